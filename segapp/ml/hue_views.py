"""Does colour tell the classes apart? Whether training views may have their hue turned.

A few corrected photos teach a network shortcuts: after 40 images of people it still
claims red benches, red flowers and red undergrowth (docs/first-rounds.md, "Masks the model
disagrees with"), because the people in those photos often wore red. A fifth of the
training views with their hue turned at random (anywhere on the colour circle; grey
pixels stay grey) breaks that shortcut and keeps the contrast of colours. A new network's
first round keeps its colours: turned there too, the loop's 10-image round lost 0.014 over
eight seeds, where the 40-image round continuing from it gained (docs/first-rounds.md).

Where colour is what the classes are (a stain, ripe against unripe fruit, a red object
among green ones), turning it would teach the opposite of the task. Which of the two a
project is, is read from its corrected pairs: the hue of each saturated pixel (the colour
circle in ``HUE_BINS`` bins), pooled over all images but one, scores the pixels of that one
image by how often each hue was the class and not the rest; the area under the ROC curve
of that score, over the images, says how well colour alone finds the class in an image it
was not read from. 0.5 is chance, 1 a perfect colour rule. The hue turns when that is
under ``MAX_HUE_AUC`` for every class. On the shared sets at 320 px: human-segmentation
0.57 (ids 1-10), 0.74 (1-40), 0.72 (1-160); red discs among green ones, and purple among
pink, 1.0; isbi2012-membrane is grey, where there is no hue to turn.

numpy and OpenCV only: no torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from segapp.core.project import IGNORE_INDEX
from segapp.ml.proposal_refine import is_colour
from segapp.ml.recipe import HUE_SETTINGS

HUE_BINS = 18  # 20 degrees each
MIN_SATURATION = 40  # of 255: below it a pixel's hue is noise
MIN_PIXELS = 50  # saturated pixels of each side for an image to count
MIN_IMAGES = 4  # images that count; fewer: too few to tell, the colours are kept
MAX_HUE_AUC = 0.85  # colour alone finds the class this well or better: the hue stays


@dataclass(frozen=True)
class HueViews:
    """Whether training views may have their hue turned, and why."""

    turn: bool
    how: str  # what "auto" found, or "set" when the run was told

    def describe(self) -> str:
        views = "a fifth with their hue turned" if self.turn else "their colours kept"
        return f"training views in colour: {views}; {self.how}"


def _hue_counts(image: np.ndarray, labels: np.ndarray, cls: int) -> tuple[np.ndarray, ...]:
    """Saturated pixels per hue bin inside class ``cls`` and outside it (ignore left out);
    ``labels`` are the image's size, as a training pair's are."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2HSV)
    seen = (hsv[..., 1] >= MIN_SATURATION) & (labels != IGNORE_INDEX)
    bins = hsv[..., 0].astype(np.int64) * HUE_BINS // 180  # OpenCV's hue is 0..179
    inside = seen & (labels == cls)
    outside = seen & (labels != cls)
    return (
        np.bincount(bins[inside], minlength=HUE_BINS).astype(np.float64),
        np.bincount(bins[outside], minlength=HUE_BINS).astype(np.float64),
    )


def _binned_auc(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of a score given per bin, from the positives and negatives in each bin
    (ties count half)."""
    # one group per distinct score, in rising order; bins of equal score tie
    _, group = np.unique(score, return_inverse=True)
    pos = np.bincount(group, weights=pos)
    neg = np.bincount(group, weights=neg)
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def hue_auc(
    images: Sequence[np.ndarray], masks: Sequence[np.ndarray], cls: int = 1
) -> tuple[float, int] | None:
    """Mean over the images of how well the hue, learnt from the other images, finds class
    ``cls`` (leave-one-image-out ROC AUC), and how many images counted; None with fewer than
    ``MIN_IMAGES`` that hold ``MIN_PIXELS`` saturated pixels on either side."""
    counts = [_hue_counts(im, m, cls) for im, m in zip(images, masks, strict=True)]
    counts = [(p, n) for p, n in counts if p.sum() >= MIN_PIXELS and n.sum() >= MIN_PIXELS]
    if len(counts) < MIN_IMAGES:
        return None
    # each image weighs alike: its hue histograms as shares
    shares = [(p / p.sum(), n / n.sum()) for p, n in counts]
    pos_all = sum(p for p, _ in shares)
    neg_all = sum(n for _, n in shares)
    aucs = []
    for (pos, neg), (p_share, n_share) in zip(counts, shares, strict=True):
        others_pos, others_neg = pos_all - p_share, neg_all - n_share
        score = (others_pos + 1e-3) / (others_pos + others_neg + 2e-3)
        aucs.append(_binned_auc(score, pos, neg))
    return float(np.mean(aucs)), len(aucs)


def decide(
    setting: str,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    foreground: Sequence[int] = (1,),
    continuing: bool = True,
) -> HueViews:
    """The hue views for ``setting`` (one of ``HUE_SETTINGS``) and these training pairs
    (``foreground``: the labels' classes other than the background). ``auto`` keeps the
    colours in a round that is not ``continuing`` from a trained version (its new decoder
    learns from the colours as they are)."""
    if setting not in HUE_SETTINGS:
        raise ValueError(f"hue must be one of {', '.join(HUE_SETTINGS)}")
    if setting != "auto":
        return HueViews(setting == "turn", "set")
    if not continuing:
        return HueViews(
            False, "auto: a new network's first round learns from the colours as they are"
        )
    colour = [(im, m) for im, m in zip(images, masks, strict=True) if is_colour(im)]
    if 2 * len(colour) <= len(images):
        return HueViews(
            False, f"auto: {len(images) - len(colour)} of {len(images)} images are grey"
        )
    found = []
    for cls in foreground:
        auc = hue_auc([im for im, _ in colour], [m for _, m in colour], cls)
        if auc is None:
            return HueViews(
                False,
                f"auto: fewer than {MIN_IMAGES} images with saturated pixels both of class "
                f"{cls} and of the rest, too few to tell",
            )
        found.append(auc[0])
    best = max(found)
    plural = "es" if len(foreground) > 1 else ""
    said = f"colour alone finds the class{plural} with ROC AUC {best:.2f}"
    if best >= MAX_HUE_AUC:
        return HueViews(False, f"auto: colour tells the classes apart ({said})")
    return HueViews(True, f"auto: colour does not tell the classes apart ({said})")
