"""Click to correct with OpenCV's GrabCut, seeded by the clicks and guided by a model.

Unless a model was trained to follow clicks (``segapp train --clicks``), the Click tool
refines with this: GrabCut learns colour models of object and background from the current
mask (or, on an empty one, the model's probabilities), takes each click as certain (a disk
of object or of background) and what it contradicts as probably wrong, and cuts the window
around the clicks. The newest click says which way the mask moves (a negative click only
takes away, a positive one only adds), and only regions that touch a positive click or the
current mask are kept; with a model, a positive click adds only pixels the model finds
nearly as likely object as the clicked one. GrabCut gives an object's outermost pixels to
the background, where people's masks keep them, so the edge pixels of the mask as it was stay
beside the new one (``keep_rim``). Without any model (the first image of a new project) the
clicks and the mask alone seed it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from segapp.core.cleanup import disk_kernel
from segapp.core.clicks import ALONE, ALONE_WITHOUT_MODEL, Click, Window, refine_window
from segapp.core.imageio import to_rgb

WORK_SIDE = 320  # the window is cut at this size at most (GrabCut's cost grows with pixels)
SURER = 0.0  # logit margin: where the model is surer than this over the click, the mask stays
# (0.5 / 1 / 2: NoC@90 6.28 / 6.15 / 6.85 vs 6.38 after 40 images, worse clicks 10-12 % vs 8.5 %)
DEEP = 0.5  # without a model, a negative click this deep in its region (of the deepest)
# denies all of it; nearer its edge, only the edge
BRIDGE = 0.05  # a share of the window: thinner bridges do not join a denied region
# with a model, a positive click grows the mask only where the model's logit is at most this
# much below its logit at the click (NoC@90 on ids 161-200, models trained on 10 / 40 / 160
# images: 6.95 / 6.9 / 4.5 without, 6.5 / 6.4 / 4.2 with; margins 0 / 2 / 4: 7.6 / 6.7 / 6.6
# after 40)
GROW_MARGIN = 3.0
# GrabCut's rounds of colour models and cut: 2 (4 measured no better), and 1 for a click a
# model guides, whose seeds start close to the answer (NoC@90 4.70 against 4.79 with 2 on
# three 40-image versions, 80 ms a click against 130, p95 137 against 240; without a model 1
# round lost: NoC@90 7.38 against 7.00, and for proposals: 0.775 against 0.776 on 16 loop
# versions; docs/clicks.md)
ITERATIONS = 2
GUIDED_CLICK_ITERATIONS = 1
# a proposal's pixels the model gives at most SURE_BACKGROUND or at least SURE_OBJECT stay as
# proposed; GrabCut decides the band of doubt between. A model trained on a few images
# over-claims look-alike background (road, walls) at 0.9-0.93, where GrabCut's colour models
# deny it (docs/first-rounds.md: 0.1 / 0.9 and 0.2 / 0.8 gave less; 0.1 /
# 0.95 more after 10-40 images but less after 160)
SURE_BACKGROUND = 0.07
SURE_OBJECT = 0.93
# a region of a finished proposal under this share of its largest region's area, of which the
# model is sure of no pixel, is a speck and is dropped (docs/first-rounds.md: 0.05 and 0.01
# measured)
SPECK = 0.05
# GrabCut gives an object's edge pixels, mixed colours of object and background, to the
# background, where masks people draw (and models trained on them) keep them: a pixel this
# close beside a refined proposal that the model claims stays, and beside a click's new mask
# one the mask had before the click (docs/first-rounds.md: 1 px lifted all 19 loop versions
# measured, 2 and 3 px less; docs/clicks.md: after a click NoC@90 3.70 against 4.38 on three
# 40-image versions)
RIM = 1
# GrabCut's colour models start from a random draw (k-means); seeded so the same image, mask
# and clicks always give the same mask, whatever ran before (Esc and the same click again)
SEED = 0


def grabcut_refine(
    image: np.ndarray,
    prev: np.ndarray,
    clicks: Sequence[Click],
    probs: np.ndarray | None = None,
) -> tuple[np.ndarray, Window]:
    """(new mask inside the window, the window) for ``clicks`` on ``image``.

    ``prev``: the active class's mask now (bool HxW); ``probs``: a model's foreground
    probability (HxW), the starting point when the mask is empty.
    """
    prev = prev.astype(bool)
    if probs is not None and not prev.any():
        prev = probs > 0.5
    window = refine_window(prev, clicks, alone=ALONE if probs is not None else ALONE_WITHOUT_MODEL)
    x, y, w, h = window
    scale = min(1.0, WORK_SIDE / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    crop = to_rgb(image[y : y + h, x : x + w])
    img = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    window_prev = prev[y : y + h, x : x + w].astype(np.uint8)
    prior = cv2.resize(window_prev, size, interpolation=cv2.INTER_NEAREST) > 0
    local = [c.scaled(scale, scale, x, y) for c in clicks]
    logits = None
    if probs is not None:
        p = cv2.resize(probs[y : y + h, x : x + w].astype(np.float32), size)
        p = np.clip(p, 1e-6, 1 - 1e-6)
        logits = np.log(p / (1 - p))
    seeds, denied = _seeds(prior, local, size, logits)
    if not (seeds == cv2.GC_FGD).any() and not (seeds == cv2.GC_PR_FGD).any():
        return np.zeros((h, w), bool), window
    if (seeds == cv2.GC_BGD).any() or (seeds == cv2.GC_PR_BGD).any():
        _grabcut(img, seeds, ITERATIONS if probs is None else GUIDED_CLICK_ITERATIONS)
    cut = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    if logits is not None:
        cut = _within_model_doubt(cut, prior, local, logits)
    if not (prior & ~denied).any() and prev.sum() == window_prev.sum():
        denied[:] = False  # every pixel of the mask denied: the colours decide what stays
    cut = _keep_anchored(cut, prior & ~denied, local)
    out = cv2.resize(cut.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR) > 0
    # the clicks the mask does not yet agree with say which way it moves: negative ones
    # only take away, positive ones only add (GrabCut's colour models would otherwise
    # spread into similar background); after a dot's removal both may be pending
    before = window_prev.astype(bool)
    ways = {c.positive for c in clicks if _disagrees(before, c, x, y)} or {clicks[-1].positive}
    if ways == {True}:
        out |= before
    elif ways == {False}:
        out &= before
    return keep_rim(out, before), window


def grabcut_proposal(image: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """A model's proposal (``prob`` > ``threshold``, bool HxW) with its band of doubt decided
    by GrabCut, as a dense CRF refines a network's output: the pixels the model is sure of
    (``SURE_BACKGROUND``, ``SURE_OBJECT``) are certain, the rest probably what the model
    says, and GrabCut's colour models of the two and the image's edges settle them. Only the
    regions it changes are taken, at the working scale; elsewhere the proposal keeps its
    full-resolution edges. Specks are dropped (``drop_specks``), and the model's rim is kept
    (``keep_rim``)."""
    proposal = prob > threshold
    settled = _settle_doubt(image, prob, proposal, threshold)
    return keep_rim(drop_specks(settled, prob, max(SURE_OBJECT, threshold)), proposal)


def keep_rim(mask: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """``mask`` (bool HxW) and the pixels of ``drawn`` (bool HxW: the model's proposal, or the
    mask before a click) up to ``RIM`` px beside it (4-connected at 1 px): where GrabCut
    shaved an edge, the edge pixel comes back; a region it dropped whole (no part of ``mask``
    beside it) stays dropped."""
    mask = mask.astype(bool, copy=False)
    if RIM < 1 or not mask.any():
        return mask
    # bool seen as 0/1 bytes: no copies (about 7 ms at 4096², against 12 with them)
    out = cv2.dilate(np.ascontiguousarray(mask).view(np.uint8), disk_kernel(RIM)).view(bool)
    out &= drawn
    out |= mask
    return out


def drop_specks(mask: np.ndarray, prob: np.ndarray, sure: float = SURE_OBJECT) -> np.ndarray:
    """``mask`` (bool HxW) without its specks: 8-connected regions under ``SPECK`` of the
    largest one's area in which ``prob`` reaches ``sure`` nowhere (a small object the model
    sees clearly stays)."""
    count, regions, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count < 3:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    out = mask
    for i in np.flatnonzero(areas < SPECK * areas.max()) + 1:
        x, y, w, h = (int(v) for v in stats[i, :4])  # left, top, width, height
        region = regions[y : y + h, x : x + w] == i
        if prob[y : y + h, x : x + w][region].max() < sure:
            if out is mask:
                out = mask.copy()
            out[y : y + h, x : x + w][region] = False
    return out


def _settle_doubt(
    image: np.ndarray, prob: np.ndarray, proposal: np.ndarray, threshold: float
) -> np.ndarray:
    """``grabcut_proposal`` before its specks are dropped and its rim kept (``proposal``:
    ``prob`` > ``threshold``)."""
    h, w = prob.shape
    scale = min(1.0, WORK_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    p = cv2.resize(prob.astype(np.float32, copy=False), size, interpolation=cv2.INTER_AREA)
    seeds = np.where(p > threshold, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    seeds[p >= max(SURE_OBJECT, threshold)] = cv2.GC_FGD  # sure, and on the threshold's side
    seeds[p <= min(SURE_BACKGROUND, threshold)] = cv2.GC_BGD
    before = seeds.copy()
    unsure = (seeds == cv2.GC_PR_FGD) | (seeds == cv2.GC_PR_BGD)
    # the colour models learn from what the model is sure of: both sides, or nothing to do
    sure = (seeds == cv2.GC_FGD).any() and (seeds == cv2.GC_BGD).any()
    if not (unsure.any() and sure):
        return proposal
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
    _grabcut(to_rgb(small)[:, :, :3], seeds, ITERATIONS)
    obj = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    changed = obj != ((before == cv2.GC_PR_FGD) | (before == cv2.GC_FGD))
    if not changed.any():
        return proposal
    changed = cv2.resize(changed.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    obj = cv2.resize(obj.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR) > 0
    return np.where(changed, obj, proposal)


def _grabcut(rgb: np.ndarray, seeds: np.ndarray, iterations: int) -> None:
    """``iterations`` of OpenCV's GrabCut on ``rgb`` from ``seeds`` (its mask values), which it
    updates."""
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    cv2.setRNGSeed(SEED)  # OpenCV's generator is per thread: no other caller's draws move
    cv2.grabCut(bgr, seeds, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)


def _disagrees(mask: np.ndarray, click: Click, x0: int, y0: int) -> bool:
    """Does ``mask`` (a window at (x0, y0) of the image) say otherwise than the click?"""
    h, w = mask.shape
    y, x = _at(click.scaled(1.0, 1.0, x0, y0), (w, h))
    return bool(mask[y, x]) != click.positive


def _seeds(
    prior: np.ndarray,
    clicks: Sequence[Click],
    size: tuple[int, int],
    logits: np.ndarray | None = None,
) -> np.ndarray:
    """(GrabCut's mask, the regions of the mask negative clicks deny whole): probably
    object where the prior is, clicks certain. A click that contradicts the prior turns
    (probably) what it sits in to what it says: a negative click the region of the mask
    under it (with a model: the part the model is no surer of than at the click, so an
    object the wrong region touches stays); a positive click the largest disk of background
    around it (at most a sixth of the window)."""
    w, h = size
    seeds = np.where(prior, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    denied_all = np.zeros(prior.shape, bool)
    _, regions = cv2.connectedComponents(prior.astype(np.uint8), connectivity=8)
    radius = max(2, round(0.03 * max(w, h)))
    depth = {
        True: cv2.distanceTransform((~prior).astype(np.uint8), cv2.DIST_L2, 3),
        False: cv2.distanceTransform(prior.astype(np.uint8), cv2.DIST_L2, 3),
    }
    for c in clicks:
        y, x = _at(c, size)
        if not c.positive and regions[y, x]:
            region = regions == regions[y, x]
            denied = region.copy()  # narrowed below; ``region`` stays whole
            if logits is not None:
                denied &= logits <= logits[y, x] + SURER
            if BRIDGE:
                denied = _part_at(denied, y, x, max(1, round(BRIDGE * max(w, h))))
            deep = depth[False][y, x] >= DEEP * depth[False][denied].max(initial=0.0)
            if logits is not None or deep:  # the model's doubt, or a click deep inside
                seeds[denied] = cv2.GC_PR_BGD
                if not (region & ~denied).any():  # a region of its own, denied whole
                    denied_all |= denied
                continue
            # no model and a click near the region's edge: the edge is wrong (the disk below)
        d = min(float(depth[c.positive][y, x]), max(w, h) / 6)
        if d > radius:
            value = cv2.GC_PR_FGD if c.positive else cv2.GC_PR_BGD
            cv2.circle(seeds, (x, y), round(d), value, -1)
    for c in clicks:  # certain: a disk no wider than the click's distance to the mask's edge
        y, x = _at(c, size)
        r = max(1, min(radius, round(float(depth[not prior[y, x]][y, x]))))
        cv2.circle(seeds, (x, y), r, cv2.GC_FGD if c.positive else cv2.GC_BGD, -1)
    return seeds, denied_all


def _within_model_doubt(
    cut: np.ndarray, prior: np.ndarray, clicks: Sequence[Click], logits: np.ndarray
) -> np.ndarray:
    """``cut`` grown only where the model finds object nearly as likely as at the least
    likely positive click (``GROW_MARGIN`` logits less at most): GrabCut's colour models
    otherwise spread a positive click over a floor or a wall of the object's colours."""
    size = cut.shape[::-1]
    positive = [logits[_at(c, size)] for c in clicks if c.positive]
    if not positive:
        return cut
    grow = cut & ~prior
    out = cut.copy()
    out[grow] = logits[grow] >= min(positive) - GROW_MARGIN
    return out


def _part_at(region: np.ndarray, y: int, x: int, k: int) -> np.ndarray:
    """The part of ``region`` around (y, x) once parts thinner than ``2k`` px are cut off:
    a thick part the click is in, or else the thin part (a band, a bridge) it is in."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    core = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    if core[y, x]:
        _, parts = cv2.connectedComponents(core, connectivity=8)
        return (cv2.dilate((parts == parts[y, x]).astype(np.uint8), kernel) > 0) & region
    thin = (region & ~(core > 0)).astype(np.uint8)
    if not thin[y, x]:
        return region
    _, parts = cv2.connectedComponents(thin, connectivity=8)
    return parts == parts[y, x]


def _at(click: Click, size: tuple[int, int]) -> tuple[int, int]:
    """(row, column) of a click, inside an image of ``size`` = (w, h)."""
    w, h = size
    return min(h - 1, max(0, round(click.y))), min(w - 1, max(0, round(click.x)))


def _keep_anchored(cut: np.ndarray, anchor: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
    """Only the regions of ``cut`` that hold a positive click or overlap ``anchor``: the
    prior less the regions negative clicks denied whole, so such a region that GrabCut's
    colours kept (a red pillar beside a person in red) goes, unless it joins the rest of the
    mask; a denied part of a larger region (the floor below a person's feet) is GrabCut's
    to settle."""
    count, comps = cv2.connectedComponents(cut.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(comps[anchor & cut])] = True
    size = cut.shape[::-1]
    for c in clicks:
        if c.positive:
            keep[comps[_at(c, size)]] = True
    keep[0] = False
    return keep[comps]
