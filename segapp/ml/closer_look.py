"""A closer look: the network again on a crop around each object it found.

A model trained on whole images brought to one size (``resize`` mode, 320 px) sees a
far-off person in a street scene as a few dozen pixels, where its training portraits
showed close-ups, and over-claims the road around them. Its second look is at a crop
around each region it is sure of (probability > ``SURE``, 8-connected), with a ``MARGIN``
of context on each side and the image's own aspect (so the crop is squashed to the model's
square as the whole images were in training), brought to the same size: the object now
fills the view as in training, and a region the first look took for an object is seen up
close, where it often is not one. Inside the crops the second looks' probabilities replace
the first's (averaged where crops overlap). Only regions of at least ``MIN_SHARE`` of the
largest one's area get a look, the largest ``MAX_LOOKS`` of them (so the cost is bounded),
and none whose crop would cover more than ``MAX_AREA`` of the image (the object fills the
frame already). Nothing changes when the model is sure of nothing.

On human-segmentation's unseen street scenes it lifted the proposals of the loop's
versions (docs/first-rounds.md); the cost is one more pass of the network
per region looked at. No torch here: the window's engine proposes without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

SURE = 0.9  # the pixels the crops are made around
MARGIN = 0.25  # context on each side, as a share of the sure region's height / width
MAX_AREA = 0.9  # no second look when the crop would cover more of the image than this
MIN_SHARE = 0.05  # a sure region gets a look if its area is at least this share of the largest
MAX_LOOKS = 4  # at most this many looks (the largest regions)
REGIONS_SIDE = 1024  # larger sure maps are searched for regions at a reduced scale

Box = tuple[int, int, int, int]  # top, left, height, width


def crop_box(sure: np.ndarray) -> Box | None:
    """The crop around the true pixels of ``sure`` (HxW bool), with ``MARGIN`` of context
    and the image's aspect, inside the image; None when there are none or it is too large."""
    if not sure.any():
        return None
    rows, cols = np.flatnonzero(sure.any(axis=1)), np.flatnonzero(sure.any(axis=0))
    return _frame((rows[0], rows[-1] + 1, cols[0], cols[-1] + 1), sure.shape)


def _frame(bounds: tuple[int, int, int, int], shape: tuple[int, ...]) -> Box | None:
    """The crop around ``bounds`` (y0, y1, x0, x1) in an image of ``shape`` (``crop_box``)."""
    (y0, y1, x0, x1), (H, W) = bounds, shape[:2]
    h, w = (y1 - y0) * (1 + 2 * MARGIN), (x1 - x0) * (1 + 2 * MARGIN)
    if w * H < h * W:  # widen or heighten to the image's aspect
        w = h * W / H
    else:
        h = w * H / W
    if h * w > MAX_AREA * H * W:
        return None
    h, w = min(H, max(1, round(h))), min(W, max(1, round(w)))
    top = round(min(max(0.0, (y0 + y1 - h) / 2), H - h))
    left = round(min(max(0.0, (x0 + x1 - w) / 2), W - w))
    return top, left, h, w


def crop_boxes(sure: np.ndarray) -> list[Box]:
    """The crops (``crop_box``) around the regions of ``sure`` (HxW bool) that get a look:
    at least ``MIN_SHARE`` of the largest region's area, the largest ``MAX_LOOKS`` first.

    A map larger than ``REGIONS_SIDE`` is searched for regions at a reduced scale, a pixel
    sure there when most of its block is (a region found to a few pixels: 6 ms instead of 46
    at 4000 x 3000), the crops then framed at full scale."""
    step = max(1, math.ceil(max(sure.shape[:2]) / REGIONS_SIDE))
    small = np.ascontiguousarray(sure, bool).view(np.uint8)
    if step > 1:
        h, w = sure.shape[:2]
        size = (math.ceil(w / step), math.ceil(h / step))
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)  # 0/1 means, rounded
    count, _, stats, _ = cv2.connectedComponentsWithStats(small, connectivity=8)
    if count < 2:
        return []
    stats = stats[1:]
    areas = stats[:, cv2.CC_STAT_AREA]
    boxes = []
    for i in np.argsort(-areas, kind="stable")[:MAX_LOOKS]:
        if areas[i] < MIN_SHARE * areas.max():
            break
        x, y, w, h = (int(v) * step for v in stats[i, :4])  # left, top, width, height
        boxes.append(_frame((y, y + h, x, x + w), sure.shape))
    return [box for box in boxes if box is not None]


def closer_look(
    predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """``probs`` (1 x H x W, a binary model's) with the crops around the sure regions
    (``crop_boxes``) replaced by ``predict`` of those crops of ``image``, averaged where
    they overlap; ``probs`` itself when there is no crop."""
    if probs.shape[0] != 1:
        return probs
    boxes = crop_boxes(probs[0] > SURE)
    if not boxes:
        return probs
    # the looks are summed over the crops' bounding box only, not the whole image
    top = min(b[0] for b in boxes)
    left = min(b[1] for b in boxes)
    bottom = max(b[0] + b[2] for b in boxes)
    right = max(b[1] + b[3] for b in boxes)
    total = np.zeros((probs.shape[0], bottom - top, right - left), np.float32)
    looks = np.zeros(total.shape[1:], np.float32)
    for y, x, h, w in boxes:
        look = predict(image[y : y + h, x : x + w])
        total[:, y - top : y - top + h, x - left : x - left + w] += look
        looks[y - top : y - top + h, x - left : x - left + w] += 1
    out = probs.copy()
    np.divide(total, looks, out=out[:, top:bottom, left:right], where=looks > 0, casting="unsafe")
    return out
