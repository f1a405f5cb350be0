"""Do the images have an up? Which mirrors and turns the training augmentation may use.

Photos have gravity: people stand, skies are above, and a network shown them upside down
or on their side spends its few corrected images on views it will never be asked about
(measured: ten portraits of human-segmentation, scored on unseen street scenes, 0.633
mirrored left-right only against 0.608 with all eight mirror-and-turn views, four seeds).
Microscopy, EM and aerial images have no up, and there all eight views are free extra
data. Which of the two a project is, is read from its corrected masks:

Things that stand are mirror-symmetric left to right far more than top to bottom (a
person, a car, a house; a portrait cut off by the frame's bottom edge), while cells,
membranes or fields have no preferred axis. Each labelled object (a connected component,
the ``MAX_OBJECTS`` largest of ``MIN_OBJECT_SHARE`` of the image or more) is compared with
its own left-right and up-down mirror; the image's asymmetry is the area-weighted mean of
IoU(left-right) - IoU(up-down). Without an up each image is as likely as its quarter turn,
which swaps the two, so the asymmetries cancel over the images: the sign-flip test (exact
up to ``EXACT_UP_TO`` images, sampled beyond) says how often random signs give a mean as
large as the one observed. The images have an up when that is rarer than ``P_UPRIGHT``
and the mean is at least ``MIN_ASYMMETRY`` (so a slight anisotropy of a long microscopy
series does not count); then the augmentation mirrors them left-right only, otherwise
(or with fewer than ``MIN_IMAGES`` images with objects, too few to tell) it uses all eight
views. On the shared sets: human-segmentation's first 10 masks, mean 0.27, p = 0.002 (all
ten agree); isbi2012-membrane's 20, mean 0.01, p = 0.13 (its first 10: p = 0.99).

numpy and OpenCV only: no torch here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from segapp.core.project import labelled_objects
from segapp.ml.recipe import ORIENTATIONS

MIN_IMAGES = 8  # the least p-value of n images is 2 / 2**n (a pattern and its negation)
# the two mistakes cost unequally: photos trained on all eight views lost 0.025 IoU after ten
# images, membranes trained upright 0.004; and one image's asymmetry is noisy (human-
# segmentation: mean 0.13, sd 0.19), so at 0.01 only 17 % of random 10-image sets of it were
# found upright (58 % of 20-image sets), at 0.2 78 % (95 %); isbi2012-membrane's never, at
# either (its mean stays under MIN_ASYMMETRY; benchmarks/bench_orientation.py). Walk-through
# 9's first ten photos: p = 0.094.
P_UPRIGHT = 0.2
MIN_ASYMMETRY = 0.05
MIN_OBJECT_SHARE = 0.0005  # of the image's pixels: smaller objects are too coarse to tell
MAX_OBJECTS = 50  # per image, the largest
EXACT_UP_TO = 12  # images; beyond, SAMPLED_SIGNS random sign patterns
SAMPLED_SIGNS = 4000


@dataclass(frozen=True)
class Orientation:
    """What the augmentation may do: ``upright`` = mirror left-right only."""

    upright: bool
    how: str  # why: what "auto" found, or "set" when the run was told

    def describe(self) -> str:
        views = "mirrored left-right only" if self.upright else "in all 8 mirrored and turned views"
        return f"training views {views}; {self.how}"


def _mirror_iou(obj: np.ndarray, axis: int) -> float:
    flipped = np.flip(obj, axis)
    return float((obj & flipped).sum() / max(1, (obj | flipped).sum()))


def asymmetry(labels: np.ndarray) -> float | None:
    """Area-weighted mean over the labelled objects of IoU with their left-right mirror
    minus IoU with their up-down mirror; None when ``labels`` hold no object big enough."""
    objects = labelled_objects(labels).astype(np.uint8)
    count, comp, stats, _ = cv2.connectedComponentsWithStats(objects, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = [k + 1 for k in np.argsort(-areas)[:MAX_OBJECTS]]
    least = MIN_OBJECT_SHARE * labels.size
    total = weight = 0.0
    for k in keep:
        x, y, w, h, area = (int(v) for v in stats[k])
        if area < least:
            break
        obj = comp[y : y + h, x : x + w] == k
        total += area * (_mirror_iou(obj, 1) - _mirror_iou(obj, 0))
        weight += area
    return total / weight if weight else None


def sign_flip_p_value(values: Sequence[float], seed: int = 0) -> float:
    """The share of sign patterns whose sum of ``values`` is at least as far from 0 as the
    observed sum: how often a mean this large comes by chance if each sign is a coin."""
    d = np.asarray(values, dtype=np.float64)
    n = len(d)
    if n <= EXACT_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(SAMPLED_SIGNS, n))
        signs[0] = 1.0  # the observed pattern is one of them
    return float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-9))


def decide(setting: str, masks: Sequence[np.ndarray]) -> Orientation:
    """The orientation for ``setting`` (one of ``ORIENTATIONS``) and these masks."""
    if setting not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {', '.join(ORIENTATIONS)}")
    if setting != "auto":
        return Orientation(setting == "upright", "set")
    values = [a for a in map(asymmetry, masks) if a is not None]
    if len(values) < MIN_IMAGES:
        return Orientation(False, f"auto: {len(values)} masks with objects, too few to tell")
    mean, p = float(np.mean(values)), sign_flip_p_value(values)
    found = f"left-right minus up-down mirror symmetry {mean:+.2f}, p = {p:.2g}"
    if p < P_UPRIGHT and mean >= MIN_ASYMMETRY:
        return Orientation(True, f"auto: the images have an up ({found})")
    return Orientation(False, f"auto: no up found in the masks ({found})")
