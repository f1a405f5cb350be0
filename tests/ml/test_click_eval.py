"""The simulated annotator (segapp.ml.click_eval) with refiners whose answers are known."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from segapp.core import tools
from segapp.core.clicks import Click
from segapp.ml import click_eval
from segapp.ml.click_eval import (
    actions_to,
    brush_radius,
    brush_trace,
    click_trace,
    iou_after,
    run_annotators,
    summarize,
    worse_steps,
)


class FloodRefiner:
    """A positive click adds the truth's connected piece under it; a negative one removes
    the current mask's piece under it. Proposes a fixed mask."""

    name = "flood (test)"

    def __init__(self, truth: np.ndarray, proposal: np.ndarray | None = None) -> None:
        self.truth = truth.astype(bool)
        self.proposal = proposal
        self.calls: list[tuple[np.ndarray, list[Click]]] = []

    def _piece(self, mask: np.ndarray, c: Click) -> np.ndarray:
        _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
        at = labels[int(c.y), int(c.x)]
        return (labels == at) & mask if at else np.zeros_like(mask)

    def refine(self, image, prev, clicks):
        self.calls.append((prev.copy(), list(clicks)))
        out = prev.copy()
        for c in clicks:
            if c.positive:
                out |= self._piece(self.truth, c)
            else:
                out &= ~self._piece(out, c)
        return out

    def propose(self, image):
        return np.zeros(self.truth.shape, bool) if self.proposal is None else self.proposal


class StuckRefiner:
    """Never changes the mask."""

    name = "stuck (test)"

    def refine(self, image, prev, clicks):
        return prev.copy()

    def propose(self, image):
        return np.zeros(image.shape[:2], bool)


def _rect(shape, x0, y0, x1, y1) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0 : y1 + 1, x0 : x1 + 1] = True
    return m


def test_click_trace_clicks_the_larger_piece_first_and_accumulates():
    big, small = _rect((60, 60), 5, 5, 24, 24), _rect((60, 60), 40, 40, 49, 49)
    truth = big | small
    refiner = FloodRefiner(truth)
    image = np.zeros((60, 60, 3), np.uint8)
    timings: list[float] = []
    trace = click_trace(refiner, image, truth, np.zeros_like(truth), timings=timings)
    assert trace == [0.0, 400 / 500, 1.0]  # stops when there is no error left
    assert len(timings) == 2 and all(t >= 0 for t in timings)
    (prev1, clicks1), (prev2, clicks2) = refiner.calls
    assert not prev1.any() and clicks1 == [Click(14.0, 14.0, True)]
    np.testing.assert_array_equal(prev2, big)  # the current mask comes back as prev
    assert clicks2 == [Click(14.0, 14.0, True), Click(44.0, 44.0, True)]


def test_negative_click_removes_a_spurious_blob():
    truth = _rect((60, 60), 5, 5, 24, 24)
    start = truth | _rect((60, 60), 40, 40, 50, 50)
    refiner = FloodRefiner(truth)
    trace = click_trace(refiner, None, truth, start)
    assert trace == [400 / 521, 1.0]
    assert refiner.calls[0][1] == [Click(45.0, 45.0, False)]


def test_the_casual_annotator_clicks_inside_the_largest_error_and_spots_are_recorded():
    truth = _rect((60, 60), 5, 5, 24, 24)
    wrong = _rect((60, 60), 30, 30, 59, 59)  # the larger error: claimed, not truth
    start = truth | wrong | _rect((60, 60), 2, 40, 5, 43)  # and a small one
    choose = click_eval.casual_chooser(seed=3)
    picks = [choose(truth, start, None) for _ in range(20)]
    assert all(not c.positive and 34 <= c.x <= 59 and 34 <= c.y <= 59 for c in picks)
    assert len({(c.x, c.y) for c in picks}) > 5  # random, not the one deepest point
    again = click_eval.casual_chooser(seed=3)
    assert [again(truth, start, None) for _ in range(20)] == picks  # seeded
    refiner, spots = FloodRefiner(truth), []
    trace = click_trace(refiner, None, truth, start, chooser=choose, spots=spots)
    assert trace[-1] == 1.0 and len(spots) == 2
    assert spots == [(1.0, False), (1.0, False)]  # each removed what lay under it
    stuck: list = []
    click_trace(StuckRefiner(), np.zeros((60, 60)), truth, start, 2, chooser=choose, spots=stuck)
    assert stuck == [(0.0, False), (0.0, False)]  # the spot still claimed after the click
    assert click_eval.spot_agrees(wrong, Click(45.0, 45.0, True)) == 1.0


def test_click_trace_stops_at_099_and_at_max_clicks():
    truth = _rect((100, 100), 0, 0, 99, 49)
    start = truth.copy()
    start[0, 0] = False  # IoU 0.9998: done before any click
    assert click_trace(StuckRefiner(), np.zeros((100, 100)), truth, start) == [4999 / 5000]
    trace = click_trace(StuckRefiner(), np.zeros((100, 100)), truth, ~truth, max_clicks=4)
    assert trace == [0.0] * 5


def test_click_trace_checks_the_refiners_shape():
    class Wrong(StuckRefiner):
        def refine(self, image, prev, clicks):
            return np.zeros((3, 3), bool)

    truth = _rect((20, 20), 5, 5, 10, 10)
    with pytest.raises(ValueError, match="refined mask"):
        click_trace(Wrong(), np.zeros((20, 20)), truth, np.zeros_like(truth))


def test_ignored_pixels_count_in_neither_the_iou_nor_the_clicks():
    truth = _rect((60, 60), 5, 5, 24, 24)
    start = truth | _rect((60, 60), 40, 40, 50, 50)
    ignore = _rect((60, 60), 38, 38, 52, 52)
    assert click_trace(StuckRefiner(), None, truth, start, ignore=ignore) == [1.0]


def test_noc_counting():
    assert actions_to([0.5, 0.8, 0.86, 0.95], 0.85, 20) == 2
    assert actions_to([0.5, 0.8, 0.86, 0.95], 0.90, 20) == 3
    assert actions_to([0.91], 0.90, 20) == 0  # already there: no click
    assert actions_to([0.1] * 21, 0.85, 20) == 20  # never reached: the maximum
    assert actions_to([0.1, 0.2], 0.85, 20) == 20
    assert iou_after([0.5, 0.99], 5) == 0.99 and iou_after([0.5, 0.7, 0.8], 1) == 0.7


def test_worse_share():
    assert worse_steps([0.5, 0.8, 0.7, 0.695, 0.9, 0.88]) == 2  # -0.1 and -0.02; -0.005 is not
    s = summarize([[0.5, 0.8, 0.7, 0.695, 0.9, 0.88], [0.95]], [[0.5, 0.6], [0.95]], max_clicks=5)
    assert s.clicks == 5 and s.worse_share == 2 / 5
    assert summarize([[1.0]], [[1.0]], 20).worse_share == 0.0


def test_summary_figures():
    click_traces = [[0.5, 0.86, 0.91], [0.2] * 21, [0.95]]
    brush_traces = [[0.5, 0.7, 0.86, 0.88, 0.9], [0.2] * 21, [0.95]]
    s = summarize(click_traces, brush_traces, max_clicks=20)
    assert s.images == 3 and s.max_clicks == 20
    assert s.noc85 == pytest.approx((1 + 20 + 0) / 3)
    assert s.noc90 == pytest.approx((2 + 20 + 0) / 3)
    assert s.iou_1 == pytest.approx((0.86 + 0.2 + 0.95) / 3)
    assert s.iou_3 == s.iou_5 == pytest.approx((0.91 + 0.2 + 0.95) / 3)
    assert s.start_iou == pytest.approx((0.5 + 0.2 + 0.95) / 3)
    assert s.brush85 == pytest.approx((2 + 20) / 3) and s.brush90 == pytest.approx((4 + 20) / 3)
    d = s.to_dict()
    assert d["noc90"] == round((2 + 20) / 3, 4) and d["clicks"] == 22
    table = s.table("model x")
    assert table.startswith("model x") and "7.33" in table and "3 images" in table
    longer = summarize(click_traces, brush_traces, max_clicks=20, max_brush=100)
    assert longer.noc90 == s.noc90 and longer.brush90 == pytest.approx((4 + 100) / 3)
    assert "20 clicks and 100 dabs" in longer.table()
    with pytest.raises(ValueError):
        summarize([], [], 20)


def test_brush_radius_scales_with_the_image():
    assert brush_radius((512, 300)) == 8 and brush_radius((480, 1024, 3)) == 16
    assert brush_radius((20, 20)) == 1


def test_brush_trace_paints_and_erases_through_tools_dab(monkeypatch):
    calls = []
    real_dab = tools.dab

    def spy(mask, center, radius, value, overwrite=None):
        calls.append((center, radius, value))
        return real_dab(mask, center, radius, value, overwrite)

    monkeypatch.setattr(tools, "dab", spy)
    shape = (512, 400)
    disk = np.zeros(shape, np.uint8)
    real_dab(disk, (100, 120), 8, 1).apply(disk)
    truth = disk.astype(bool)
    start = np.zeros(shape, bool)
    # one dab of the annotator's radius at the disk's centre paints exactly the truth
    assert brush_trace(None, truth, start) == [0.0, 1.0]
    assert calls == [((100.0, 120.0), 8, 1)]
    assert not start.any()  # painted on a copy
    blob = np.zeros(shape, np.uint8)
    real_dab(blob, (300, 200), 8, 1).apply(blob)
    calls.clear()
    trace = brush_trace(None, truth, truth | blob.astype(bool))
    assert trace == [pytest.approx(truth.sum() / (2 * truth.sum())), 1.0]
    assert calls == [((300.0, 200.0), 8, 0)]  # erased


def test_brush_trace_limits_its_actions():
    truth = _rect((64, 64), 0, 0, 63, 31)  # far larger than a dab of radius 1
    trace = brush_trace(None, truth, np.zeros_like(truth), max_actions=3)
    assert len(trace) == 4 and trace[0] < trace[1] < trace[2] < trace[3] < 0.85


def test_run_annotators_from_proposal_and_from_empty():
    big, small = _rect((60, 60), 5, 5, 24, 24), _rect((60, 60), 40, 40, 49, 49)
    labels = np.where(big | small, 1, 0).astype(np.uint8)
    labels[0, :] = 255  # ignored: neither foreground nor error
    refiner = FloodRefiner(big | small, proposal=big)
    image = np.zeros((60, 60, 3), np.uint8)
    from_proposal = run_annotators(refiner, [(image, labels)], max_clicks=20)
    assert from_proposal.start_iou == 0.8 and from_proposal.noc85 == 1 and from_proposal.clicks == 1
    from_empty = run_annotators(refiner, [(image, labels)], max_clicks=20, start="empty")
    assert from_empty.start_iou == 0.0 and from_empty.noc85 == 2 and from_empty.iou_1 == 0.8
    assert from_empty.brush90 == 20  # a 20 px square takes more than 20 dabs of radius 1
    longer = run_annotators(refiner, [(image, labels)], 20, "empty", max_brush=400)
    assert longer.noc90 == 2 and 20 < longer.brush85 < 400 and longer.max_brush == 400
    timings: list[float] = []
    run_annotators(refiner, [(image, labels)] * 2, start="empty", timings=timings)
    assert len(timings) == 4
    with pytest.raises(ValueError, match="start"):
        run_annotators(refiner, [(image, labels)], start="nothing")


def test_binary_truth():
    labels = np.array([[0, 1, 2, 255]], np.uint8)
    truth, ignore = click_eval.binary_truth(labels)
    assert truth.tolist() == [[False, True, True, False]]
    assert ignore.tolist() == [[False, False, False, True]]
    assert click_eval.binary_truth(labels[:, :3])[1] is None


def test_no_torch_at_import():
    code = "import sys, segapp.ml.click_eval; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_latency_ms():
    assert click_eval.latency_ms([0.1, 0.2, 0.3]) == {
        "refine_ms_mean": 200.0,
        "refine_ms_p95": 290.0,
    }
    assert click_eval.latency_ms([]) == {"refine_ms_mean": 0.0, "refine_ms_p95": 0.0}
