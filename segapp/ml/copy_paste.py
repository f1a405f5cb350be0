"""Copy-paste augmentation: objects of one corrected image pasted into another.

A few corrected images show their objects on a few backgrounds, at a few sizes and places
(ten portraits: people large and centred on blurred backdrops), and a network trained on
them learns those backgrounds as much as the objects. Pasting one image's labelled pixels,
flipped and shrunk, at a random place over another image (which they occlude, labels and
all) shows every object at many sizes and places and over every other background, so the
network has to learn the object (Ghiasi et al. 2021, "Simple Copy-Paste").

Only for objects on a background, in ``resize`` mode (whole-object photos, seen at one
scale): an image whose labelled pixels cover most of it (EM membranes: cell interiors are
three quarters of every image) is no object to paste and is never used as a donor; in
``crop`` mode images keep their native scale, which pasting shrunk objects would break.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from segapp.core.project import IGNORE_INDEX

MAX_DONOR_FOREGROUND = 0.6  # labelled fraction above which an image is "stuff", not objects
SCALE_RANGE = (0.3, 1.0)  # pasted object's size, relative to the largest that fits


class PairLike(Protocol):
    image: np.ndarray  # HxWxC uint8
    labels: np.ndarray  # HxW uint8 class indices


def foreground_fraction(labels: np.ndarray) -> float:
    """Share of the pixels labelled with a class other than background (ignore not counted)."""
    return float(np.count_nonzero((labels > 0) & (labels != IGNORE_INDEX))) / max(1, labels.size)


def paste_donors(pairs: Sequence[PairLike]) -> list[PairLike]:
    """The pairs whose labelled pixels are objects on a background, fit to paste elsewhere."""
    return [p for p in pairs if 0 < foreground_fraction(p.labels) <= MAX_DONOR_FOREGROUND]


def paste_object(
    image: np.ndarray, labels: np.ndarray, donor: PairLike, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``donor``'s labelled pixels (randomly flipped, shrunk to 30-100 % of the largest size
    that fits) pasted at a random place over ``image``/``labels``; new arrays are returned."""
    ys, xs = np.nonzero(donor.labels)
    if len(ys) == 0:
        return image, labels
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    src_img, src_lab = donor.image[box], donor.labels[box]
    if rng.random() < 0.5:
        src_img, src_lab = src_img[:, ::-1], src_lab[:, ::-1]
    h, w = labels.shape
    fit = min(h / src_lab.shape[0], w / src_lab.shape[1], 1.0)
    f = fit * rng.uniform(*SCALE_RANGE)
    size = (max(1, round(src_lab.shape[1] * f)), max(1, round(src_lab.shape[0] * f)))
    src_img = cv2.resize(np.ascontiguousarray(src_img), size, interpolation=cv2.INTER_AREA)
    src_lab = cv2.resize(np.ascontiguousarray(src_lab), size, interpolation=cv2.INTER_NEAREST)
    src_img = src_img.reshape(size[1], size[0], -1)
    ph, pw = src_lab.shape
    top, left = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    region = (slice(top, top + ph), slice(left, left + pw))
    # a one-pixel soft edge, so a hard cut-out border is no cue for the network
    alpha = cv2.GaussianBlur((src_lab > 0).astype(np.float32), (3, 3), 0)[:, :, None]
    image, labels = image.copy(), labels.copy()
    image[region] = (alpha * src_img + (1 - alpha) * image[region] + 0.5).astype(np.uint8)
    labels[region] = np.where(src_lab > 0, src_lab, labels[region])
    return image, labels


class CopyPaste:
    """With probability ``p``, another donor's object pasted into a training pair."""

    def __init__(self, pairs: Sequence[PairLike], p: float) -> None:
        self.donors = paste_donors(pairs)
        self.p = p if len(self.donors) >= 2 else 0.0  # a pair never pastes into itself

    def __bool__(self) -> bool:
        return self.p > 0

    def __call__(self, pair: PairLike, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image, labels = pair.image, pair.labels
        if rng.random() < self.p:
            others = [d for d in self.donors if d is not pair]
            donor = others[int(rng.integers(len(others)))]
            image, labels = paste_object(image, labels, donor, rng)
        return image, labels
