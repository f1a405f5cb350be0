"""The standard simulated annotator: how many clicks (or brush dabs) a mask costs.

Each step puts one click where :func:`segapp.core.clicks.next_click` says (the deepest
point of the larger error), the refiner redraws the mask from all clicks so far, and the
IoU is recorded; the brush annotator instead paints or erases one disk there through the
project's own brush code (:func:`segapp.core.tools.dab`). A trace is the IoU before any
action and after each one; it ends early at ``STOP_IOU`` or when no error is left, and the
summary reads the IoU as staying there. A *casual* annotator (:func:`casual_chooser`)
clicks as a person does instead: somewhere well inside the largest error, not at its
deepest point. NumPy and OpenCV only: nothing here imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import cv2
import numpy as np

from segapp.core import tools
from segapp.core.clicks import Click, error_depth, iou, next_click
from segapp.core.project import IGNORE_INDEX, ImageEntry, Project

STOP_IOU = 0.99
CASUAL_DEPTH = 0.3  # a casual click lands this deep in its error region at least (of its deepest)
SPOT_SHARE = 0.01  # spot_agrees looks this share of the longer side around a click
WORSE_BY = 0.01
BRUSH_RADIUS_512 = 8  # the brush annotator's radius at 512 px scale


class Refiner(Protocol):
    """What the annotator drives (``segapp.ml.interactive`` makes them)."""

    name: str

    def refine(self, image: np.ndarray, prev: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
        """The new bool mask from the image, the current mask and all clicks so far."""
        ...

    def propose(self, image: np.ndarray) -> np.ndarray:
        """The bool mask proposed with no clicks."""
        ...


Chooser = Callable[[np.ndarray, np.ndarray, np.ndarray | None], Click | None]


def casual_chooser(seed: int = 0) -> Chooser:
    """A person's clicks rather than the standard annotator's: on the largest error region
    (by area; missed or wrongly claimed), at a random point of its inner part (at least
    ``CASUAL_DEPTH`` of its deepest point's distance from its edge), not at its deepest
    point. Seeded: the same traces every run."""
    rng = np.random.default_rng(seed)

    def choose(truth: np.ndarray, pred: np.ndarray, ignore: np.ndarray | None) -> Click | None:
        care = ~ignore.astype(bool) if ignore is not None else np.ones_like(truth, bool)
        best: tuple[int, bool, np.ndarray] | None = None
        for positive, error in ((True, truth & ~pred & care), (False, pred & ~truth & care)):
            n, comps, stats, _ = cv2.connectedComponentsWithStats(error.view(np.uint8), None, 8)
            if n < 2:
                continue
            i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            if best is None or stats[i, cv2.CC_STAT_AREA] > best[0]:
                best = (int(stats[i, cv2.CC_STAT_AREA]), positive, comps == i)
        if best is None:
            return None
        depth = error_depth(best[2])
        ys, xs = np.nonzero(depth >= CASUAL_DEPTH * depth.max())
        j = int(rng.integers(len(ys)))
        return Click(float(xs[j]), float(ys[j]), best[1])

    return choose


def spot_agrees(mask: np.ndarray, click: Click) -> float:
    """The share of the pixels around ``click`` (a disk-sized square of 1 % of the longer
    side, 2 px at least) that say what the click said: after a click, the spot under it
    should (the Click tool once left a confident wrong region under a negative click)."""
    r = max(2, round(SPOT_SHARE * max(mask.shape)))
    y, x = int(click.y), int(click.x)
    patch = mask[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
    return float((patch == click.positive).mean())


def _done(
    truth: np.ndarray,
    mask: np.ndarray,
    ignore: np.ndarray | None,
    score: float,
    chooser: Chooser | None = None,
):
    """The next click, or None when the trace ends (IoU at ``STOP_IOU`` or no error)."""
    if score >= STOP_IOU:
        return None
    return (chooser or next_click)(truth, mask, ignore)


def click_trace(
    refiner: Refiner,
    image: np.ndarray,
    truth: np.ndarray,
    start: np.ndarray,
    max_clicks: int = 20,
    ignore: np.ndarray | None = None,
    timings: list[float] | None = None,
    chooser: Chooser | None = None,
    spots: list[tuple[float, bool]] | None = None,
) -> list[float]:
    """IoU of ``start`` and after each click (at most ``max_clicks``); clicks accumulate.

    ``timings``, if given, gets the seconds of each ``refine`` call appended; ``chooser``
    places the clicks (default: the standard annotator, ``next_click``); ``spots`` gets
    (:func:`spot_agrees` after the click, the click's sign) for each click.
    """
    truth = truth.astype(bool)
    mask = start.astype(bool)
    clicks: list[Click] = []
    trace = [iou(mask, truth, ignore)]
    while len(clicks) < max_clicks:
        click = _done(truth, mask, ignore, trace[-1], chooser)
        if click is None:
            break
        clicks.append(click)
        t0 = time.perf_counter()
        new = np.asarray(refiner.refine(image, mask, list(clicks)))
        if timings is not None:
            timings.append(time.perf_counter() - t0)
        if new.shape != truth.shape:
            raise ValueError(f"{refiner.name}: refined mask {new.shape}, image {truth.shape}")
        mask = new.astype(bool)
        trace.append(iou(mask, truth, ignore))
        if spots is not None:
            spots.append((spot_agrees(mask, click), click.positive))
    return trace


def brush_radius(shape: tuple[int, ...]) -> int:
    """The brush annotator's disk: 8 px at 512 px, scaled with the image's longer side."""
    return max(1, round(BRUSH_RADIUS_512 * max(shape[:2]) / 512))


def brush_trace(
    image: np.ndarray,
    truth: np.ndarray,
    start: np.ndarray,
    max_actions: int = 20,
    radius: int | None = None,
    ignore: np.ndarray | None = None,
) -> list[float]:
    """The same annotator with the brush: each action paints (positive click) or erases
    (negative) one disk of ``radius`` (default :func:`brush_radius`) at the click."""
    truth = truth.astype(bool)
    r = brush_radius(truth.shape) if radius is None else int(radius)
    mask = start.astype(np.uint8)  # a copy: class 1 on background 0
    trace = [iou(mask, truth, ignore)]
    for _ in range(max_actions):
        click = _done(truth, mask, ignore, trace[-1])
        if click is None:
            break
        patch = tools.dab(mask, (click.x, click.y), r, 1 if click.positive else 0)
        if patch is not None:
            patch.apply(mask)
        trace.append(iou(mask, truth, ignore))
    return trace


def actions_to(trace: Sequence[float], target: float, limit: int) -> int:
    """Actions until the IoU first reaches ``target`` (0 if it starts there; ``limit`` if
    it never does)."""
    return next((k for k, v in enumerate(trace) if v >= target), limit)


def iou_after(trace: Sequence[float], k: int) -> float:
    """The IoU after ``k`` actions (the last one if the trace ended before)."""
    return trace[min(k, len(trace) - 1)]


def worse_steps(trace: Sequence[float], by: float = WORSE_BY) -> int:
    """How many actions lowered the IoU by more than ``by``."""
    return sum(int(b < a - by) for a, b in zip(trace, trace[1:], strict=False))


@dataclass
class ClickSummary:
    """The annotators' figures over a set of images."""

    images: int
    max_clicks: int
    max_brush: int
    start_iou: float
    noc85: float
    noc90: float
    iou_1: float
    iou_3: float
    iou_5: float
    clicks: int  # clicks made in all
    worse_share: float  # of those, the share that lowered the IoU by more than WORSE_BY
    brush85: float
    brush90: float

    def to_dict(self) -> dict[str, float | int]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def table(self, title: str = "") -> str:
        """A short plain-text table: clicks next to brush dabs."""
        lines = [title] if title else []
        lines += [
            f"{'':22} {'clicks':>8} {'brush':>8}",
            f"{'to IoU 0.85 (mean)':22} {self.noc85:>8.2f} {self.brush85:>8.2f}",
            f"{'to IoU 0.90 (mean)':22} {self.noc90:>8.2f} {self.brush90:>8.2f}",
            f"IoU at start {self.start_iou:.4f}; after 1/3/5 clicks "
            f"{self.iou_1:.4f} / {self.iou_3:.4f} / {self.iou_5:.4f}",
            f"clicks that made it worse (> {WORSE_BY}): {self.worse_share:.1%} of {self.clicks}",
            f"{self.images} images, at most {self.max_clicks} clicks and {self.max_brush} "
            "dabs each (never reached = the maximum)",
        ]
        return "\n".join(lines)


def summarize(
    click_traces: Sequence[Sequence[float]],
    brush_traces: Sequence[Sequence[float]],
    max_clicks: int,
    max_brush: int | None = None,
) -> ClickSummary:
    """Means over images of the click and brush traces (one of each per image); an image
    that never reaches a target counts ``max_clicks`` (``max_brush`` dabs, default the same)."""
    max_brush = max_clicks if max_brush is None else max_brush
    if not click_traces or len(click_traces) != len(brush_traces):
        raise ValueError("summarize needs one click and one brush trace per image, at least one")

    def mean(values: Iterable[float]) -> float:
        return float(np.mean(list(values)))

    def to(traces: Sequence[Sequence[float]], target: float, limit: int) -> float:
        return mean(actions_to(t, target, limit) for t in traces)

    clicks = sum(len(t) - 1 for t in click_traces)
    worse = sum(worse_steps(t) for t in click_traces)
    return ClickSummary(
        images=len(click_traces),
        max_clicks=max_clicks,
        max_brush=max_brush,
        start_iou=mean(t[0] for t in click_traces),
        noc85=to(click_traces, 0.85, max_clicks),
        noc90=to(click_traces, 0.90, max_clicks),
        iou_1=mean(iou_after(t, 1) for t in click_traces),
        iou_3=mean(iou_after(t, 3) for t in click_traces),
        iou_5=mean(iou_after(t, 5) for t in click_traces),
        clicks=clicks,
        worse_share=worse / clicks if clicks else 0.0,
        brush85=to(brush_traces, 0.85, max_brush),
        brush90=to(brush_traces, 0.90, max_brush),
    )


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Mean and 95th percentile of refine calls, in ms (0 when there were none)."""
    ms = np.asarray(seconds, float) * 1000 if len(seconds) else np.zeros(1)
    return {
        "refine_ms_mean": round(float(ms.mean()), 1),
        "refine_ms_p95": round(float(np.percentile(ms, 95)), 1),
    }


STARTS = ("proposal", "empty")


def binary_truth(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Foreground (any class but background) and the ignored pixels (None if there are none)
    of a label map of class indices."""
    ignore = labels == IGNORE_INDEX
    return (labels != 0) & ~ignore, (ignore if ignore.any() else None)


def project_samples(
    project: Project, entries: Iterable[ImageEntry]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image, class-index labels) of each entry, the labels at the image's size."""
    for entry in entries:
        image = project.read_image(entry)
        yield image, project.read_labels(entry, image.shape[:2])


def run_annotators(
    refiner: Refiner,
    samples: Iterable[tuple[np.ndarray, np.ndarray]],
    max_clicks: int = 20,
    start: str = "proposal",
    timings: list[float] | None = None,
    max_brush: int | None = None,
    chooser: Chooser | None = None,
    spots: list[tuple[float, bool]] | None = None,
) -> ClickSummary:
    """Both annotators on each (image, labels), from the refiner's proposal or an empty mask
    (the brush gets ``max_brush`` dabs, default ``max_clicks``); ``timings`` gets the
    seconds of every ``refine`` call; ``chooser`` and ``spots`` as in :func:`click_trace`
    (the brush annotator always dabs where the standard annotator clicks)."""
    max_brush = max_clicks if max_brush is None else max_brush
    if start not in STARTS:
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    click_traces, brush_traces = [], []
    for image, labels in samples:
        truth, ignore = binary_truth(labels)
        if start == "empty":
            first = np.zeros(truth.shape, bool)
        else:
            first = np.asarray(refiner.propose(image)).astype(bool)
        click_traces.append(
            click_trace(refiner, image, truth, first, max_clicks, ignore, timings, chooser, spots)
        )
        brush_traces.append(brush_trace(image, truth, first, max_brush, ignore=ignore))
    return summarize(click_traces, brush_traces, max_clicks, max_brush)
