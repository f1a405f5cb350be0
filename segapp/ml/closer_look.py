"""A closer look: the network again on a crop around the object it found.

A model trained on whole images brought to one size (``resize`` mode, 320 px) sees a
far-off person in a street scene as a few dozen pixels, where its training portraits
showed close-ups, and over-claims the road around them. Its second look is at a crop
around what it is sure of (probability > ``SURE``), with a ``MARGIN`` of context on each
side and the image's own aspect (so the crop is squashed to the model's square as the
whole images were in training), brought to the same size: the object now fills the view
as in training. Inside the crop the second look's probabilities replace the first's.
Nothing changes when the model is sure of nothing, or when the crop would cover more than
``MAX_AREA`` of the image (the object fills the frame already).

On human-segmentation's unseen street scenes it lifted the proposals of the loop's
versions (README, "What the first rounds reach"); the cost is one more pass of the network
on the images it zooms into. No torch here: the window's engine proposes without it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SURE = 0.9  # the pixels the crop is made around
MARGIN = 0.25  # context on each side, as a share of the sure region's height / width
MAX_AREA = 0.9  # no second look when the crop would cover more of the image than this

Box = tuple[int, int, int, int]  # top, left, height, width


def crop_box(sure: np.ndarray) -> Box | None:
    """The crop around the true pixels of ``sure`` (HxW bool), with ``MARGIN`` of context
    and the image's aspect, inside the image; None when there are none or it is too large."""
    if not sure.any():
        return None
    H, W = sure.shape
    rows, cols = np.flatnonzero(sure.any(axis=1)), np.flatnonzero(sure.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
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


def closer_look(
    predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """``probs`` (1 x H x W, a binary model's) with the crop around the sure object replaced
    by ``predict`` of that crop of ``image``; ``probs`` itself when there is no crop."""
    if probs.shape[0] != 1:
        return probs
    box = crop_box(probs[0] > SURE)
    if box is None:
        return probs
    top, left, h, w = box
    out = probs.copy()
    out[:, top : top + h, left : left + w] = predict(image[top : top + h, left : left + w])
    return out
