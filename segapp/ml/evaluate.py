"""Scoring models on a labeled folder, and comparing several in one table or sheet."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from segapp.core.imageio import SegappError
from segapp.core.project import Project
from segapp.core.sheet import comparison_sheet
from segapp.ml.checkpoint import load_model
from segapp.ml.device import resolve_device
from segapp.ml.infer import Predictor
from segapp.ml.metrics import SegMetrics


def evaluate_models(
    models: list[str],
    data: str,
    split: str = "all",
    threshold: float = 0.5,
    device: str = "auto",
    sheet: str | None = None,
    samples: int = 4,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One result dict per model: set-level IoU, mean per-image IoU, Dice, pixel accuracy."""
    from tqdm import tqdm

    project = Project.open(data)
    labeled = project.labeled()
    if not labeled:
        raise SegappError(f"{data}: no image has a mask to compare with")
    dev = resolve_device(device)
    results, sheet_rows = [], {}
    for ref in models:
        loaded = load_model(ref, dev)
        entries = labeled
        if split == "val":
            val = set(loaded.config.get("val_images", []))
            entries = [e for e in labeled if e.stem in val]
            if not entries:
                raise SegappError(f"{ref}: records no validation images found in {data}")
        if loaded.spec.out_classes != project.num_classes:
            raise SegappError(
                f"{ref} predicts {loaded.spec.out_classes} classes, {data} has {project.num_classes}"
            )
        predictor = Predictor(loaded, dev)
        metrics = SegMetrics(loaded.spec.out_classes)
        t0 = time.perf_counter()
        for i, entry in enumerate(tqdm(entries, desc=Path(ref).name, disable=not progress)):
            image = project.read_image(entry)
            truth = project.read_labels(entry, image.shape[:2])
            pred = predictor.predict_labels(image, threshold)
            metrics.update(pred, truth)
            if sheet and i < samples:
                sheet_rows.setdefault(entry.stem, [image, truth]).append(pred)
        seconds = time.perf_counter() - t0
        scores = metrics.compute()
        results.append(
            {
                "model": str(ref),
                "images": len(entries),
                "iou": scores["iou"],
                "mean_image_iou": scores["mean_image_iou"],
                "dice": scores["dice"],
                "pixel_accuracy": scores["pixel_accuracy"],
                "seconds_per_image": seconds / len(entries),
            }
        )
    if sheet:
        rows = [r for r in sheet_rows.values() if len(r) == len(models) + 2]
        titles = ["image", "ground truth"] + [Path(m).name for m in models]
        comparison_sheet(rows, titles, sheet, project.classes)
    return results


def format_table(results: list[dict[str, Any]]) -> str:
    """A plain-text table, one row per model."""
    head = f"{'model':30} {'images':>6} {'IoU':>7} {'mean img IoU':>12} {'Dice':>7} {'pix acc':>8} {'s/img':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        name = r["model"] if len(r["model"]) <= 30 else "…" + r["model"][-29:]
        lines.append(
            f"{name:30} {r['images']:>6} {r['iou']:>7.4f} {r['mean_image_iou']:>12.4f} "
            f"{r['dice']:>7.4f} {r['pixel_accuracy']:>8.4f} {r['seconds_per_image']:>7.3f}"
        )
    return "\n".join(lines)
