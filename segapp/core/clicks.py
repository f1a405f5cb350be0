"""Clicks on a mask: "this belongs" (positive) and "this does not" (negative).

The standard simulated annotator of interactive segmentation (RITM, FocalClick, SAM's
evaluations) puts its next click at the point of the error farthest from the error's
boundary: positive in a missed region (false negative), negative in a wrong one (false
positive), whichever is deeper. Training simulates clicks with it and ``segapp evaluate
--clicks`` counts them. A click is drawn for the network as a disk in one of two maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Click:
    """A click at pixel (``x``, ``y``) = (column, row) of the image."""

    x: float
    y: float
    positive: bool

    def scaled(self, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Click:
        """The same click in a window's pixels: ``(x - dx) * sx``, ``(y - dy) * sy``."""
        return Click((self.x - dx) * sx, (self.y - dy) * sy, self.positive)


def error_depth(error: np.ndarray) -> np.ndarray:
    """Distance of each error pixel to the nearest correct pixel or the image border."""
    padded = np.pad(error.astype(np.uint8), 1)
    return cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]


def next_click(
    truth: np.ndarray, pred: np.ndarray, ignore: np.ndarray | None = None
) -> Click | None:
    """The standard annotator's next click for ``pred`` against ``truth`` (bool masks).

    The deepest point of the false negatives (positive click) or of the false positives
    (negative click), whichever lies deeper; ``ignore`` pixels are neither. ``None`` when
    ``pred`` has no error.
    """
    truth, pred = truth.astype(bool), pred.astype(bool)
    care = ~ignore.astype(bool) if ignore is not None else np.ones_like(truth)
    fn, fp = truth & ~pred & care, pred & ~truth & care
    if not fn.any() and not fp.any():
        return None
    d_fn, d_fp = error_depth(fn), error_depth(fp)
    positive = d_fn.max() >= d_fp.max()
    depth = d_fn if positive else d_fp
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return Click(float(x), float(y), bool(positive))


def click_maps(clicks: Sequence[Click], shape: tuple[int, int], radius: float) -> np.ndarray:
    """(2, H, W) float32: disks of ``radius`` px at the positive, then the negative clicks."""
    maps = np.zeros((2, *shape), np.uint8)
    r = max(1, round(radius))
    for c in clicks:
        layer = maps[0 if c.positive else 1]
        cv2.circle(layer, (round(c.x), round(c.y)), r, 1, thickness=-1)
    return maps.astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Foreground IoU of two bool masks (1.0 when both are empty)."""
    a, b = a.astype(bool), b.astype(bool)
    if ignore is not None:
        care = ~ignore.astype(bool)
        a, b = a & care, b & care
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


Window = tuple[int, int, int, int]  # (x, y, w, h) in image pixels
SEARCH_SIDE = 512  # regions near the clicks are looked for on a mask at most this large
# clicks that touch no region of the mask look this share of the image's side around them;
# without a model to say where the object is, further: the clicks' colours alone must find it
# (model-free, from an empty mask, NoC@85 / NoC@90 with 0.125 / 0.25 / 0.5: portraits 21-60
# 5.93 / 4.18 / 4.03 and 7.33 / 5.53 / 5.40, street scenes 161-200 5.23 / 5.10 / 5.28 and
# 7.23 / 6.98 / 6.75, 111-140 4.70 / 4.20 / 4.50 (0.35) and 6.23 / 5.90 / 6.10; IoU after one
# click on the portraits 0.11 / 0.54 / 0.58: the window cut the person square. Guided by a
# 40-image version no better: NoC@85 2.48 against 2.40 on 161-200)
ALONE = 0.125
ALONE_WITHOUT_MODEL = 0.25


def refine_window(
    prev: np.ndarray,
    clicks: Sequence[Click],
    margin: float = 0.4,
    min_side: int = 64,
    alone: float = ALONE,
) -> Window:
    """Where clicks redraw the mask (FocalClick's focus): around the clicks and the parts of
    ``prev`` they touch or lie near, grown by ``margin`` of its size on every side.

    A click's part of the mask is the connected region within 5 % of the image's size of
    it; a click far from any region looks ``alone`` of the image's side around it. The
    rest of the mask lies outside the window and is left as it is.
    """
    height, width = prev.shape[:2]
    xs, ys = _touched(prev, clicks)
    x0, x1, y0, y1 = min(xs), max(xs) + 1, min(ys), max(ys) + 1
    if len(xs) == len(clicks):  # clicks that touch no region: look around them
        reach = alone * max(height, width)
        x0, x1, y0, y1 = x0 - reach, x1 + reach, y0 - reach, y1 + reach
    w = max((x1 - x0) * (1 + 2 * margin), min_side)
    h = max((y1 - y0) * (1 + 2 * margin), min_side)
    w, h = max(w, h / 2), max(h, w / 2)  # no thinner than 1:2 (the network sees it squashed)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, right = _span(cx, w, width)
    top, bottom = _span(cy, h, height)
    return left, top, right - left, bottom - top


def _touched(prev: np.ndarray, clicks: Sequence[Click]) -> tuple[list[float], list[float]]:
    """x and y extents of the clicks and of the regions of ``prev`` near them, found on a
    copy at most ``SEARCH_SIDE`` px across (cost independent of the image size)."""
    height, width = prev.shape[:2]
    f = max(1.0, max(height, width) / SEARCH_SIDE)
    small = prev.astype(np.uint8)
    if f > 1:  # any pixel of a region keeps it (area averaging, then > 0)
        size = (max(1, round(width / f)), max(1, round(height / f)))
        small = cv2.resize(small * np.uint8(255), size, interpolation=cv2.INTER_AREA)
    local = [c.scaled(1 / f, 1 / f) for c in clicks]
    reach = 0.05 * max(small.shape)
    xs, ys = [c.x for c in clicks], [c.y for c in clicks]
    count, comps, stats, _ = cv2.connectedComponentsWithStats((small > 0).astype(np.uint8), 8)
    for i in range(1, count):
        x, y, w, h = (int(v) for v in stats[i, :4])
        for c in local:
            dx = max(x - c.x, 0.0, c.x - (x + w - 1))
            dy = max(y - c.y, 0.0, c.y - (y + h - 1))
            if dx <= reach and dy <= reach and _near_component(comps, i, c, reach):
                xs += [x * f, min(width, (x + w) * f) - 1]
                ys += [y * f, min(height, (y + h) * f) - 1]
                break
    return xs, ys


def _span(centre: float, extent: float, size: int) -> tuple[int, int]:
    """[start, end) of ``extent`` px around ``centre``, shifted (then cut) to fit ``size``."""
    extent = min(float(size), extent)
    start = min(max(0.0, centre - extent / 2), size - extent)
    return int(start), min(size, int(np.ceil(start + extent)))


def _near_component(comps: np.ndarray, index: int, click: Click, reach: float) -> bool:
    """Is a pixel of component ``index`` within ``reach`` px of ``click``?"""
    r = int(np.ceil(reach))
    x, y = round(click.x), round(click.y)
    y0, x0 = max(0, y - r), max(0, x - r)
    patch = comps[y0 : y + r + 1, x0 : x + r + 1] == index
    if not patch.any():
        return False
    py, px = np.nonzero(patch)
    return bool((((py + y0 - click.y) ** 2 + (px + x0 - click.x) ** 2) <= reach**2).any())
