"""Scoring models on a labeled folder, and comparing several in one table or sheet; with
``--clicks``, the clicks (and brush dabs) the simulated annotator needs per mask."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from segapp.core.imageio import SegappError
from segapp.core.project import ImageEntry, Project
from segapp.core.sheet import comparison_sheet
from segapp.ml.checkpoint import load_model, read_config
from segapp.ml.click_eval import latency_ms, project_samples, run_annotators
from segapp.ml.device import resolve_device
from segapp.ml.infer import Predictor
from segapp.ml.metrics import SegMetrics

log = logging.getLogger(__name__)


def evaluate_models(
    models: list[str],
    data: str,
    split: str = "all",
    threshold: float = 0.5,
    device: str = "auto",
    sheet: str | None = None,
    samples: int = 4,
    progress: bool = True,
    refine: str | None = None,
) -> list[dict[str, Any]]:
    """One result dict per model: set-level IoU, mean per-image IoU, Dice, pixel accuracy.

    ``refine``: how the proposals are refined (``proposal_refine.METHODS``; None: as each
    model says)."""
    from segapp.ml.progress import progress as counted

    project, labeled = _labeled(data)
    dev = resolve_device(device)
    loaded_models = []  # all of them first: a broken checkpoint is found before any scoring
    for ref in models:
        loaded = load_model(ref, dev)
        if loaded.spec.out_classes != project.num_classes:
            raise SegappError(
                f"{ref} predicts {loaded.spec.out_classes} classes, {data} has {project.num_classes}"
            )
        loaded_models.append((ref, loaded))
    results, sheet_rows, left_out = [], {}, {}
    for ref, loaded in loaded_models:
        entries = _split(labeled, loaded.config, split, ref, data)
        predictor = Predictor(loaded, dev, refine=refine)
        metrics = SegMetrics(loaded.spec.out_classes)
        scored, t0 = 0, time.perf_counter()
        for entry in counted(entries, Path(ref).name, disable=not progress):
            try:  # an unreadable pair is left out and named, as training does
                image = project.read_image(entry)
                truth = project.read_labels(entry, image.shape[:2])
            except SegappError as e:
                if entry.stem not in left_out:
                    left_out[entry.stem] = str(e)
                    log.warning("left out: %s", e)
                continue
            pred = predictor.predict_labels(image, threshold)
            metrics.update(pred, truth)
            if sheet and scored < samples:
                sheet_rows.setdefault(entry.stem, [image, truth]).append(pred)
            scored += 1
        if not scored:
            raise SegappError(f"{data}: none of its {len(entries)} image pairs could be read")
        seconds = time.perf_counter() - t0
        scores = metrics.compute()
        results.append(
            {
                "model": str(ref),
                "refine": predictor.refine,
                "images": scored,
                "left_out": len(entries) - scored,
                "iou": scores["iou"],
                "mean_image_iou": scores["mean_image_iou"],
                "dice": scores["dice"],
                "pixel_accuracy": scores["pixel_accuracy"],
                "seconds_per_image": seconds / scored,
            }
        )
    if sheet:
        rows = [r for r in sheet_rows.values() if len(r) == len(models) + 2]
        titles = ["image", "ground truth"] + [Path(m).name for m in models]
        comparison_sheet(rows, titles, sheet, project.classes)
    return results


def _labeled(data: str) -> tuple[Project, list[ImageEntry]]:
    """The project at ``data`` and its images with a corrected mask (SegappError if none
    has one): a proposal nobody checked is no ground truth."""
    project = Project.open(data)
    labeled, proposals = project.reviewed()
    unreviewed = len(proposals)
    if unreviewed:
        log.warning(
            "left out %d masks that are proposals nobody corrected (segapp.json says "
            "'proposed'): they are no ground truth",
            unreviewed,
        )
    if not labeled:
        what = f"a corrected mask (its {unreviewed} are proposals)" if unreviewed else "a mask"
        raise SegappError(
            f"{data}: no image has {what} to compare with in {project.masks_dir} (--data "
            "wants the folder that holds images/ and masks/, or a project)"
        )
    return project, labeled


def _split(
    labeled: list[ImageEntry], config: dict[str, Any], split: str, ref: str, data: str
) -> list[ImageEntry]:
    """All labeled images, or (``val``) those the checkpoint's config kept for validation."""
    if split != "val":
        return labeled
    val = set(config.get("val_images", []))
    entries = [e for e in labeled if e.stem in val]
    if not entries:
        raise SegappError(f"{ref}: records no validation images found in {data}")
    return entries


def evaluate_clicks(
    models: list[str],
    data: str,
    split: str = "all",
    max_clicks: int = 20,
    start: str = "proposal",
    device: str = "auto",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """The simulated annotator (segapp/ml/click_eval.py) with each checkpoint's refiner: one
    result dict per model, the ClickSummary's figures and the refine latency."""
    from segapp.ml.interactive import load_refiner
    from segapp.ml.progress import progress as counted

    if max_clicks < 1:
        raise SegappError("--max-clicks must be >= 1")
    project, labeled = _labeled(data)
    results = []
    for ref in models:
        if not Path(ref).is_dir():
            raise SegappError(f"{ref}: no such checkpoint folder")
        entries = _split(labeled, read_config(ref), split, ref, data)
        refiner = load_refiner(ref, str(resolve_device(device)))
        bar = counted(entries, Path(ref).name, disable=not progress)
        timings: list[float] = []
        summary = run_annotators(refiner, project_samples(project, bar), max_clicks, start, timings)
        head = {"model": str(ref), "refiner": refiner.name, "from": start}
        results.append(head | summary.to_dict() | latency_ms(timings))
    return results


def format_clicks_table(results: list[dict[str, Any]]) -> str:
    """Per model: clicks and brush dabs to IoU 0.85 / 0.90, IoU after 1/3/5 clicks."""
    head = (
        f"{'model':30} {'from':>8} {'images':>6} {'IoU@0':>6} {'NoC@85':>7} {'NoC@90':>7} {'IoU@1':>6} "
        f"{'IoU@3':>6} {'IoU@5':>6} {'worse':>6} {'brush@85':>8} {'brush@90':>8} {'ms/click':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        name = r["model"] if len(r["model"]) <= 30 else "…" + r["model"][-29:]
        lines.append(
            f"{name:30} {r['from']:>8} {r['images']:>6} {r['start_iou']:>6.3f} {r['noc85']:>7.2f} {r['noc90']:>7.2f} "
            f"{r['iou_1']:>6.3f} {r['iou_3']:>6.3f} {r['iou_5']:>6.3f} {r['worse_share']:>6.1%} "
            f"{r['brush85']:>8.2f} {r['brush90']:>8.2f} {r['refine_ms_mean']:>8.1f}"
        )
    if results:
        refiners = ", ".join(sorted({r["refiner"] for r in results}))
        lines += [
            f"refiner: {refiners}; at most {results[0]['max_clicks']} clicks and "
            f"{results[0]['max_brush']} dabs an image (never reached = the maximum)",
            "worse: clicks that lowered the IoU by more than 0.01; brush: one dab "
            "(8 px at 512 px) an action",
        ]
    return "\n".join(lines)


def format_table(results: list[dict[str, Any]]) -> str:
    """A plain-text table, one row per model."""
    head = (
        f"{'model':30} {'images':>6} {'IoU':>7} {'mean img IoU':>12} {'Dice':>7} {'pix acc':>8} "
        f"{'s/img':>7} {'refined':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        name = r["model"] if len(r["model"]) <= 30 else "…" + r["model"][-29:]
        lines.append(
            f"{name:30} {r['images']:>6} {r['iou']:>7.4f} {r['mean_image_iou']:>12.4f} "
            f"{r['dice']:>7.4f} {r['pixel_accuracy']:>8.4f} {r['seconds_per_image']:>7.3f} "
            f"{r['refine']:>8}"
        )
    left = max((r.get("left_out", 0) for r in results), default=0)
    if left:
        lines.append(f"({left} image pair(s) could not be read and were left out: see above)")
    return "\n".join(lines)
