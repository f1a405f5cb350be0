"""The model-free Click tool: GrabCut seeded by the clicks and the current mask."""

from __future__ import annotations

import numpy as np

from segapp.core.clicks import Click, iou
from segapp.core.grabcut import grabcut_refine


def _scene():
    rng = np.random.default_rng(0)
    image = rng.integers(20, 60, (240, 320, 3)).astype(np.uint8)
    truth = np.zeros((240, 320), bool)
    truth[60:180, 100:200] = True
    image[truth] = rng.integers(180, 230, (int(truth.sum()), 3)).astype(np.uint8)
    return image, truth


def _whole(prev, inside, window):
    x, y, w, h = window
    out = prev.copy()
    out[y : y + h, x : x + w] = inside
    return out


def test_one_click_on_an_empty_mask_cuts_the_object_under_it():
    image, truth = _scene()
    prev = np.zeros_like(truth)
    inside, window = grabcut_refine(image, prev, [Click(150, 120, True)])
    x, y, w, h = window
    assert inside.shape == (h, w) and x <= 150 < x + w and y <= 120 < y + h
    assert iou(_whole(prev, inside, window), truth) > 0.9


def test_a_negative_click_removes_a_wrong_blob_and_keeps_the_object():
    image, truth = _scene()
    image[20:50, 240:300] = 90  # a patch the mask took by mistake, attached to nothing
    prev = truth.copy()
    prev[20:50, 240:300] = True
    inside, window = grabcut_refine(image, prev, [Click(270, 35, False)])
    got = _whole(prev, inside, window)
    assert not got[25:45, 245:295].any()
    assert iou(got, truth) > 0.9


def test_the_model_probability_seeds_an_empty_mask():
    image, truth = _scene()
    probs = truth.astype(np.float32) * 0.9
    inside, window = grabcut_refine(image, np.zeros_like(truth), [Click(110, 70, True)], probs)
    assert iou(_whole(np.zeros_like(truth), inside, window), truth) > 0.9


def test_the_newest_click_only_moves_the_mask_its_way():
    image, truth = _scene()
    prev = truth.copy()
    prev[60:180, 200:230] = True  # too wide on the right
    prev[100:140, 100:130] = False  # and a hole
    neg, window = grabcut_refine(image, prev, [Click(215, 120, False)])
    got = _whole(prev, neg, window)
    assert not (got & ~prev).any()  # a negative click never adds
    assert not got[60:180, 205:230].any()
    pos, window = grabcut_refine(image, got, [Click(215, 120, False), Click(115, 120, True)])
    after = _whole(got, pos, window)
    assert not (got & ~after).any()  # a positive click never takes away
    assert iou(after, truth) > 0.9


def test_a_negative_click_takes_the_wrong_region_not_the_object_a_thin_bridge_joins():
    image, truth = _scene()
    prev = truth.copy()
    prev[150:210, 220:300] = True  # a wrong region
    prev[160:163, 200:220] = True  # joined to the object by a 3 px bridge
    image[150:210, 220:300] = 120
    probs = np.where(prev, 0.97, 0.02).astype(np.float32)  # the model as sure of both
    inside, window = grabcut_refine(image, prev, [Click(260, 180, False)], probs)
    got = _whole(prev, inside, window)
    assert not got[155:205, 225:295].any()
    assert iou(got & truth, truth) > 0.95


def test_clicks_redrawn_from_an_earlier_mask_move_it_both_ways():
    """After a dot's removal the remaining clicks are redrawn from the series' first mask:
    a positive click made before a negative one still adds."""
    image, truth = _scene()
    start = truth.copy()
    start[100:140, 100:130] = False  # a hole
    start[60:180, 200:230] = True  # too wide
    clicks = [Click(115, 120, True), Click(215, 120, False)]
    inside, window = grabcut_refine(image, start, clicks)
    got = _whole(start, inside, window)
    assert got[110:130, 105:125].all() and not got[60:180, 205:230].any()


def test_a_click_by_an_edge_fixes_the_edge_without_biting_the_object():
    """The click's certain disk is no wider than its distance to the mask's edge: a
    negative click in a thin wrong band along the object takes the band, not the object."""
    image, truth = _scene()
    prev = truth.copy()
    prev[60:180, 200:204] = True  # a 4 px band of background taken along the right edge
    inside, window = grabcut_refine(image, prev, [Click(202, 120, False)])
    got = _whole(prev, inside, window)
    assert got[60:180, 100:200].mean() > 0.99  # the object is whole
    assert not got[110:130, 201:204].any()  # the band is gone where it was clicked


def test_a_positive_click_does_not_spread_where_the_model_sees_no_object():
    image, truth = _scene()
    image[180:, :] = image[60:120, :][: 240 - 180]  # a floor of the object's colours below it
    probs = np.where(truth, 0.95, 0.02).astype(np.float32)
    prev = truth.copy()
    prev[120:180] = False  # the mask lacks the object's lower half
    inside, window = grabcut_refine(image, prev, [Click(150, 150, True)], probs)
    out = _whole(prev, inside, window)
    assert not out[185:].any()  # the floor the model calls background stays out
    assert iou(out, truth) > 0.9
