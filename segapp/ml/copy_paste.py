"""Copy-paste augmentation: objects of one corrected image pasted into another.

A few corrected images show their objects on a few backgrounds, at a few sizes and places
(ten portraits: people large and centred on blurred backdrops), and a network trained on
them learns those backgrounds as much as the objects. Pasting one image's labelled pixels,
flipped and shrunk, at a random place over another image (which they occlude, labels and
all) shows every object at many sizes and places and over every other background, so the
network has to learn the object (Ghiasi et al. 2021, "Simple Copy-Paste").

Scrambled distractors: the same portraits teach that anything coloured and textured like
their clothes and skin is the object, and on a street scene the network then claims shop
fronts, signs and red boxes (measured: the errors after ten portraits are false positives,
twice the people's own area on average). One of a donor's objects cut into a 12 x 12 grid of
tiles, shuffled and flipped, and pasted labelled *background* shows the object's colours and
textures without its shape, so colour and texture alone stop being the cue (CNNs lean on
texture over shape: Geirhos et al. 2019). They stand in for the cluttered backgrounds the
first corrected images lack, so their share fades as corrected images grow
(``recipe.distractor_share``).

Objects out of focus: portraits are sharp people on blurred backdrops, so sharpness itself
becomes a cue, and on a street scene, sharp from front to back, the network claims the
sharp shop fronts too. Blurring a share of the views' labelled objects (``blur_objects``)
takes that cue away. In the loop the window runs, after the first ten and forty files
(portraits) it lifted the unseen street scenes from 0.59 to 0.63 and from 0.64 to 0.67
(four seeds; docs/first-rounds.md).

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

from segapp.core.project import labelled_objects

MAX_DONOR_FOREGROUND = 0.6  # labelled fraction above which an image is "stuff", not objects
# pasted object's size, relative to the largest that fits (down to a tenth won one round
# after 40 images, 0.670 vs 0.634, and lost in the loop: 0.616 vs 0.637; docs/first-rounds.md)
SCALE_RANGE = (0.3, 1.0)
SCRAMBLE_GRID = 12  # a distractor is its donor object cut into this many tiles a side
BLUR_SIGMA = (1.0, 3.0)  # an out-of-focus object's Gaussian blur, px at the training scale


class PairLike(Protocol):
    image: np.ndarray  # HxWxC uint8
    labels: np.ndarray  # HxW uint8 class indices


def foreground_fraction(labels: np.ndarray) -> float:
    """Share of the pixels labelled with a class other than background (ignore not counted)."""
    return float(np.count_nonzero(labelled_objects(labels))) / max(1, labels.size)


def paste_donors(pairs: Sequence[PairLike]) -> list[PairLike]:
    """The pairs whose labelled pixels are objects on a background, fit to paste elsewhere."""
    return [p for p in pairs if 0 < foreground_fraction(p.labels) <= MAX_DONOR_FOREGROUND]


def _object_box(donor: PairLike) -> tuple[np.ndarray, np.ndarray] | None:
    """``donor``'s image and labels cropped to the bounding box of its labelled pixels."""
    ys, xs = np.nonzero(labelled_objects(donor.labels))
    if len(ys) == 0:
        return None
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return donor.image[box], donor.labels[box]


def _blend(under: np.ndarray, over: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 ``over`` laid on ``under`` with weight ``alpha`` (0..1, broadcast), rounded."""
    return (alpha * over + (1 - alpha) * under + 0.5).astype(np.uint8)


def _paste(
    image: np.ndarray,
    labels: np.ndarray,
    src_img: np.ndarray,
    src_lab: np.ndarray,
    rng: np.random.Generator,
    as_background: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``src_img``'s labelled pixels shrunk to 30-100 % of the largest size that fits and
    pasted at a random place over ``image``; ``labels`` take ``src_lab`` there, or 0 (the
    pasted pixels are background) if ``as_background``. New arrays are returned."""
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
    inside = labelled_objects(src_lab) if as_background else src_lab > 0
    # a one-pixel soft edge, so a hard cut-out border is no cue for the network
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (3, 3), 0)[:, :, None]
    image, labels = image.copy(), labels.copy()
    image[region] = _blend(image[region], src_img, alpha)
    labels[region] = np.where(inside, 0 if as_background else src_lab, labels[region])
    return image, labels


def paste_object(
    image: np.ndarray, labels: np.ndarray, donor: PairLike, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``donor``'s labelled pixels (randomly flipped, shrunk to 30-100 % of the largest size
    that fits) pasted at a random place over ``image``/``labels``; new arrays are returned."""
    cut = _object_box(donor)
    if cut is None:
        return image, labels
    src_img, src_lab = cut
    if rng.random() < 0.5:
        src_img, src_lab = src_img[:, ::-1], src_lab[:, ::-1]
    return _paste(image, labels, src_img, src_lab, rng, as_background=False)


def scramble(
    image: np.ndarray, labels: np.ndarray, grid: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``image`` and ``labels`` cut alike into ``grid`` x ``grid`` tiles (the remainder rows
    and columns dropped), which are shuffled and each randomly flipped."""
    th, tw = max(1, labels.shape[0] // grid), max(1, labels.shape[1] // grid)
    rows, cols = min(grid, labels.shape[0]), min(grid, labels.shape[1])
    tiles = [
        (slice(r * th, (r + 1) * th), slice(c * tw, (c + 1) * tw))
        for r in range(rows)
        for c in range(cols)
    ]
    out_img = np.empty_like(image[: rows * th, : cols * tw])
    out_lab = np.empty_like(labels[: rows * th, : cols * tw])
    for dst, k in zip(tiles, rng.permutation(len(tiles)), strict=True):
        flip_y, flip_x = (-1 if rng.random() < 0.5 else 1 for _ in range(2))
        src = tiles[k]
        out_img[dst] = image[src][::flip_y, ::flip_x]
        out_lab[dst] = labels[src][::flip_y, ::flip_x]
    return out_img, out_lab


def _one_object(donor: PairLike, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """One of ``donor``'s objects (a connected component, drawn in proportion to its area):
    the image and labels cropped to its bounding box, the labels of anything else there 0."""
    count, comp, stats, _ = cv2.connectedComponentsWithStats(
        labelled_objects(donor.labels).astype(np.uint8), connectivity=8
    )
    if count < 2:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    k = 1 + int(rng.choice(count - 1, p=areas / areas.sum()))
    x, y, w, h = (int(v) for v in stats[k, :4])
    box = (slice(y, y + h), slice(x, x + w))
    return donor.image[box], np.where(comp[box] == k, donor.labels[box], 0).astype(np.uint8)


def paste_distractor(
    image: np.ndarray,
    labels: np.ndarray,
    donor: PairLike,
    rng: np.random.Generator,
    grid: int = SCRAMBLE_GRID,
) -> tuple[np.ndarray, np.ndarray]:
    """One of ``donor``'s objects scrambled (:func:`scramble`) and pasted as by
    :func:`paste_object`, but labelled background: its colours and textures without its
    shape. One object, not all of them, so every tile is a small part of an object: tiles of
    a box around many small objects (nuclei, cells) would hold whole ones, and teach that
    they are background."""
    cut = _one_object(donor, rng)
    if cut is None:
        return image, labels
    src_img, src_lab = scramble(*cut, grid, rng)
    return _paste(image, labels, src_img, src_lab, rng, as_background=True)


def blur_objects(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` with its labelled objects out of focus: a Gaussian blur (sigma drawn from
    ``BLUR_SIGMA``) blended in over the objects, its edge feathered by the same blur so no
    seam marks them; the background stays sharp and the labels stay as they are."""
    objects = labelled_objects(labels)
    if not objects.any():
        return image
    sigma = float(rng.uniform(*BLUR_SIGMA))
    blurred = cv2.GaussianBlur(image, (0, 0), sigma).reshape(image.shape)
    weight = cv2.GaussianBlur(objects.astype(np.float32), (0, 0), sigma)
    if image.ndim == 3:
        weight = weight[:, :, None]
    return _blend(image, blurred, weight)


class CopyPaste:
    """With probability ``p``, another donor's object pasted into a training pair; then,
    with probability ``distractors``, any donor's object scrambled and pasted as background;
    then, with probability ``object_blur``, the view's objects blurred."""

    def __init__(
        self,
        pairs: Sequence[PairLike],
        p: float,
        distractors: float = 0.0,
        object_blur: float = 0.0,
    ) -> None:
        self.donors = paste_donors(pairs)
        self.p = p if len(self.donors) >= 2 else 0.0  # a pair never pastes into itself
        self.distractors = distractors if self.donors else 0.0
        self.object_blur = object_blur if self.donors else 0.0  # photos of objects only

    def __bool__(self) -> bool:
        return self.p > 0 or self.distractors > 0 or self.object_blur > 0

    def __call__(self, pair: PairLike, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image, labels = pair.image, pair.labels
        if rng.random() < self.p:
            others = [d for d in self.donors if d is not pair]
            donor = others[int(rng.integers(len(others)))]
            image, labels = paste_object(image, labels, donor, rng)
        if self.distractors and rng.random() < self.distractors:
            donor = self.donors[int(rng.integers(len(self.donors)))]
            image, labels = paste_distractor(image, labels, donor, rng)
        if self.object_blur and rng.random() < self.object_blur:
            image = blur_objects(image, labels, rng)
        return image, labels
