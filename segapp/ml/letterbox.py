"""Whole images at the training size with their proportions kept (letterboxing).

A ``resize``-mode model sees every image at ``side`` x ``side``. Squashing a 480x640
portrait and a 640x480 street scene to that square stretches people one way in the first
and the other way in the second; letterboxing scales the longer side to ``side`` and fills
the rest of the square with the image mirrored (as the augmentation's borders are), so an
object keeps its shape whatever the image's orientation. Labels are mirrored alike; a
proposal is cut back out of the square and scaled to the image.

With ``keep_aspect=False`` the same calls squash the image to the square (the default
``resize`` mode; the box is then the whole square), so training, proposals (PyTorch and
ONNX), unlabeled images and clicks bring images to the square one way. numpy and OpenCV
only.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MARGIN = cv2.BORDER_REFLECT_101  # as the augmentation fills borders


@dataclass(frozen=True)
class Box:
    """Where an image lies in its ``side`` x ``side`` square: rows ``top``..``top + height``,
    columns ``left``..``left + width``; square pixels per image pixel across (``scale_x``)
    and down (``scale_y``), one ``scale`` when the proportions are kept."""

    top: int
    left: int
    height: int
    width: int
    scale_x: float
    scale_y: float

    @property
    def scale(self) -> float:
        return self.scale_x


def fit_box(height: int, width: int, side: int, keep_aspect: bool = True) -> Box:
    """The image's place in the square: its longer side fills it, centred (or, without
    ``keep_aspect``, all of it)."""
    if not keep_aspect:
        return Box(0, 0, side, side, side / width, side / height)
    scale = side / max(height, width)
    h = min(side, max(1, round(height * scale)))
    w = min(side, max(1, round(width * scale)))
    return Box((side - h) // 2, (side - w) // 2, h, w, scale, scale)


def letterbox(
    a: np.ndarray, side: int, interpolation: int, keep_aspect: bool = True
) -> tuple[np.ndarray, Box]:
    """``a`` (HxW or HxWxC) scaled into a ``side`` x ``side`` square, the margins mirrored
    (squashed to it without ``keep_aspect``)."""
    box = fit_box(a.shape[0], a.shape[1], side, keep_aspect)
    scaled = cv2.resize(a, (box.width, box.height), interpolation=interpolation)
    if scaled.ndim < a.ndim:  # OpenCV drops a single channel
        scaled = scaled[:, :, None]
    bottom, right = side - box.height - box.top, side - box.width - box.left
    if box.top or bottom or box.left or right:
        padded = cv2.copyMakeBorder(scaled, box.top, bottom, box.left, right, MARGIN)
        scaled = padded[:, :, None] if padded.ndim < scaled.ndim else padded
    return scaled, box


def unletterbox(probs: np.ndarray, box: Box, height: int, width: int) -> np.ndarray:
    """(K, side, side) probabilities -> (K, height, width): the image's part of the square,
    scaled back to the image."""
    part = probs[:, box.top : box.top + box.height, box.left : box.left + box.width]
    if part.shape[1:] == (height, width):
        return np.ascontiguousarray(part)
    return np.stack([cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR) for p in part])
