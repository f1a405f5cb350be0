"""Segmentation metrics accumulated over a data set (numpy or torch inputs).

``SegMetrics(num_classes)`` keeps a set-level confusion matrix and per-image foreground
IoUs; ``update`` takes predicted and target label maps (class indices), either one
image (H, W) or a batch (N, H, W) (any leading dimensions are images).

Conventions:

- ``num_classes`` counts label classes, background included (binary = 2; ``1`` is
  accepted and read as binary, so ``ModelSpec.classes`` can be passed directly).
- Foreground classes are 1..C-1. Set-level ``iou`` / ``dice`` are, per foreground class,
  sum of intersections / sum of unions over all images, then the mean over the
  foreground classes that occur (in prediction or target) anywhere in the set; if none
  occurs, the score is 1.0 (nothing to find, nothing found).
- ``mean_image_iou`` is the mean over images of the per-image foreground IoU, where the
  per-image IoU is the mean over the foreground classes present in that image's
  prediction or target, and an image where both are empty counts as 1.0.
- ``per_class_iou`` / ``per_class_dice`` are lists of length C indexed by class
  (background included); a class absent from every prediction and target is ``None``.
- Target pixels equal to ``IGNORE_INDEX`` (255, VOC's and labelme's ``__ignore__``) are
  skipped: they count in no score, whatever was predicted there.
- Before any ``update`` every score is 0.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segapp.core.project import IGNORE_INDEX


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def labels_from_logits(logits, threshold: float = 0.5):
    """Class-index labels from logits (..., C, H, W) (torch): sigmoid > threshold for
    one channel, argmax over channels otherwise. Returns int64 (..., H, W)."""
    import torch

    if logits.shape[-3] == 1:
        return (torch.sigmoid(logits.float()) > threshold).squeeze(-3).long()
    return logits.argmax(dim=-3)


class SegMetrics:
    """Confusion-count accumulation for IoU, Dice and pixel accuracy over a data set."""

    def __init__(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = max(2, int(num_classes))
        self.reset()

    def reset(self) -> None:
        c = self.num_classes
        self.confusion = np.zeros((c, c), dtype=np.int64)  # [target, pred]
        self._image_iou_sum = 0.0
        self.images = 0

    def state(self) -> dict[str, np.ndarray]:
        """The accumulated counts (summed over ranks in distributed training)."""
        return {
            "confusion": self.confusion.astype(np.float64),
            "image_iou_sum": np.array([self._image_iou_sum]),
            "images": np.array([float(self.images)]),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.confusion = np.rint(state["confusion"]).astype(np.int64)
        self._image_iou_sum = float(state["image_iou_sum"][0])
        self.images = int(round(float(state["images"][0])))

    def update(self, pred_labels, target_labels) -> None:
        pred = _to_numpy(pred_labels)
        target = _to_numpy(target_labels)
        if pred.shape != target.shape:
            raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
        if pred.ndim < 2:
            raise ValueError(f"label maps must be (H, W) or (N, H, W), got shape {pred.shape}")
        c = self.num_classes
        h, w = pred.shape[-2:]
        pred = pred.reshape(-1, h * w).astype(np.int64, copy=False)
        target = target.reshape(-1, h * w).astype(np.int64, copy=False)
        valid = target != IGNORE_INDEX
        for name, arr in (("prediction", pred), ("target", target[valid])):
            if arr.size and (arr.min() < 0 or arr.max() >= c):
                raise ValueError(
                    f"{name} holds values outside 0..{c - 1} "
                    f"(min {arr.min()}, max {arr.max()}); labels are class indices, {IGNORE_INDEX} = ignore"
                )
        n = pred.shape[0]
        # one bincount gives every image's confusion matrix
        index = (np.arange(n, dtype=np.int64)[:, None] * c + target) * c + pred
        per_image = np.bincount(index[valid], minlength=n * c * c).reshape(n, c, c)
        self.confusion += per_image.sum(axis=0)
        inter, union = _inter_union(per_image)  # (n, c)
        fg_inter, fg_union = inter[:, 1:], union[:, 1:]
        present = fg_union > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            ious = np.where(present, fg_inter / np.maximum(fg_union, 1), 0.0)
        count = present.sum(axis=1)
        image_iou = np.where(count > 0, ious.sum(axis=1) / np.maximum(count, 1), 1.0)
        self._image_iou_sum += float(image_iou.sum())
        self.images += n

    def compute(self) -> dict[str, Any]:
        inter, union = _inter_union(self.confusion[None])
        inter, union = inter[0], union[0]
        card = union + inter  # |P| + |T|
        per_iou = [float(i / u) if u > 0 else None for i, u in zip(inter, union, strict=True)]
        per_dice = [float(2 * i / s) if s > 0 else None for i, s in zip(inter, card, strict=True)]
        fg_iou = [v for v in per_iou[1:] if v is not None]
        fg_dice = [v for v in per_dice[1:] if v is not None]
        total = int(self.confusion.sum())
        empty = 1.0 if total else 0.0  # all-background set: 1.0; nothing seen yet: 0.0
        return {
            "iou": float(np.mean(fg_iou)) if fg_iou else empty,
            "dice": float(np.mean(fg_dice)) if fg_dice else empty,
            "mean_image_iou": self._image_iou_sum / self.images if self.images else 0.0,
            "pixel_accuracy": float(np.trace(self.confusion) / total) if total else 0.0,
            "per_class_iou": per_iou,
            "per_class_dice": per_dice,
            "images": self.images,
        }


def _inter_union(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class intersections and unions of confusion matrices (..., C, C) [target, pred]."""
    inter = np.diagonal(confusion, axis1=-2, axis2=-1)
    union = confusion.sum(axis=-1) + confusion.sum(axis=-2) - inter
    return inter, union


def iou(pred, target, num_classes: int = 2) -> float:
    """Foreground IoU of one prediction/target pair (mean over foreground classes that
    occur; 1.0 when both are empty)."""
    metrics = SegMetrics(num_classes)
    metrics.update(pred, target)
    return metrics.compute()["iou"]
