"""The model-free Click tool: GrabCut seeded by the clicks and the current mask."""

from __future__ import annotations

import cv2
import numpy as np

from segapp.core.clicks import Click, iou
from segapp.core.grabcut import (
    SPECK,
    SURE_BACKGROUND,
    SURE_OBJECT,
    drop_specks,
    grabcut_proposal,
    grabcut_refine,
    keep_rim,
)


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


def test_one_click_on_an_object_filling_most_of_the_image_takes_all_of_it():
    """A portrait: the person fills most of the photo. Without a model the first click
    looked a quarter of the image across around itself and cut the person square (IoU
    0.11 after one click on portraits of human-segmentation); it looks further now."""
    rng = np.random.default_rng(1)
    image = rng.integers(20, 60, (300, 240, 3)).astype(np.uint8)
    truth = np.zeros((300, 240), bool)
    cv2.ellipse(truth.view(np.uint8), (120, 170), (95, 135), 0, 0, 360, 1, -1)
    image[truth] = rng.integers(180, 230, (int(truth.sum()), 3)).astype(np.uint8)
    prev = np.zeros_like(truth)
    inside, window = grabcut_refine(image, prev, [Click(120, 150, True)])
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


def test_a_negative_click_removes_a_wrong_region_of_the_objects_own_colour():
    """Walk-through 10: a red pillar the model claimed beside a woman in red. GrabCut's
    colour models kept the pillar after each negative click, less the click's disk."""
    rng = np.random.default_rng(0)
    image = np.empty((163, 310, 3), np.uint8)
    image[:] = (60, 90, 200)
    image[:, :40] = (200, 30, 30)  # the pillar
    image[40:, 130:220] = (190, 35, 35)  # the person
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    truth = np.zeros((163, 310), bool)
    truth[40:, 130:220] = True
    probs = np.full(truth.shape, 0.02, np.float32)
    probs[truth], probs[:, :40], probs[:, 30:40] = 0.97, 0.9, 0.7
    prev = probs > 0.5
    inside, window = grabcut_refine(image, prev, [Click(20, 74, False)], probs)
    got = _whole(prev, inside, window)
    assert not got[:, :40].any() and iou(got, truth) > 0.99


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


# ---------------------------------------------------------------- proposals (no clicks)
def _bleeding_proposal():
    """A bright object on a dark background, and a model's probabilities that carry it down
    over the background below (0.6: in doubt, above the threshold) and miss its left edge
    (0.4: in doubt, below it)."""
    image, truth = _scene()
    prob = np.where(truth, 0.97, 0.02).astype(np.float32)
    prob[180:230, 110:190] = 0.6  # background below the object, wrongly proposed
    prob[60:180, 100:115] = 0.4  # the object's left edge, missed
    return image, truth, prob


def test_a_click_a_model_guides_runs_one_round_of_grabcut_and_others_two(monkeypatch):
    """One round for a guided click (as good, 0.6x the time), two without a model and for a
    proposal (docs/clicks.md)."""
    rounds = []
    real = cv2.grabCut

    def counting(img, mask, rect, bgd, fgd, count, mode):
        rounds.append(count)
        return real(img, mask, rect, bgd, fgd, count, mode)

    monkeypatch.setattr(cv2, "grabCut", counting)
    image, truth = _scene()
    probs = np.where(truth, 0.8, 0.02).astype(np.float32)
    prev = truth.copy()
    prev[60:180, 200:230] = True
    inside, window = grabcut_refine(image, prev, [Click(215, 120, False)], probs)
    assert rounds == [1] and iou(_whole(prev, inside, window), truth) > 0.9
    inside, window = grabcut_refine(image, prev, [Click(215, 120, False)])
    assert rounds == [1, 2] and iou(_whole(prev, inside, window), truth) > 0.9
    doubt = np.where(truth, 0.97, 0.02).astype(np.float32)
    doubt[60:180, 200:230] = 0.6
    assert iou(grabcut_proposal(image, doubt), truth) > 0.9
    assert rounds == [1, 2, 2]


def test_a_proposal_loses_the_doubtful_background_and_gains_the_doubtful_object():
    image, truth, prob = _bleeding_proposal()
    raw = prob > 0.5
    got = grabcut_proposal(image, prob)
    assert iou(raw, truth) < 0.8
    assert iou(got, truth) > 0.95
    assert not got[185:225, 115:185].any() and got[65:175, 102:113].all()


def test_what_the_model_is_sure_of_stays():
    image, truth, prob = _bleeding_proposal()
    prob[20:40, 20:40] = 0.97  # sure, though the colours say background
    prob[100:120, 150:170] = 0.05  # sure it is background inside the object
    got = grabcut_proposal(image, prob)
    assert got[20:40, 20:40].all() and not got[100:120, 150:170].any()


def test_background_the_model_claims_at_nine_in_ten_is_still_in_doubt():
    """A few-image model over-claims look-alike background at 0.9-0.93; the colours decide
    it, where 0.97 stays."""
    image, truth, prob = _bleeding_proposal()
    prob[180:230, 110:190] = 0.92  # background below the object, claimed nearly sure
    got = grabcut_proposal(image, prob)
    assert not got[185:225, 115:185].any()
    assert SURE_BACKGROUND < 0.5 < SURE_OBJECT


def test_a_proposal_without_sure_pixels_on_both_sides_is_returned_as_it_is():
    image, truth = _scene()
    sure = np.where(truth, 0.99, 0.01).astype(np.float32)
    assert np.array_equal(grabcut_proposal(image, sure), truth)
    empty = np.full(truth.shape, 0.3, np.float32)  # nothing above the threshold
    assert not grabcut_proposal(image, empty).any()
    unsure = np.where(truth, 0.7, 0.05).astype(np.float32)  # sure of no object pixel
    assert np.array_equal(grabcut_proposal(image, unsure), truth)


def test_specks_the_model_is_nowhere_sure_of_are_dropped():
    mask = np.zeros((300, 400), bool)
    prob = np.full((300, 400), 0.02, np.float32)
    mask[50:150, 50:150], prob[50:150, 50:150] = True, 0.97  # the object: 10,000 px
    mask[200:210, 300:310], prob[200:210, 300:310] = True, 0.7  # a speck: 1 %, unsure
    mask[20:30, 300:310], prob[20:30, 300:310] = True, 0.95  # as small, but sure: a far-off object
    mask[200:225, 50:75], prob[200:225, 50:75] = True, 0.7  # unsure, but 6 % of the object
    got = drop_specks(mask, prob)
    assert not got[200:210, 300:310].any()
    expected = mask.copy()
    expected[200:210, 300:310] = False
    assert np.array_equal(got, expected)
    assert mask[205, 305]  # the mask given is not changed in place
    assert 100 < SPECK * 10_000 < 625
    lone = np.zeros((300, 400), bool)
    lone[200:210, 300:310] = True  # the only region is no speck, however small
    assert np.array_equal(drop_specks(lone, prob), lone)


def test_a_proposal_loses_its_specks():
    image, truth = _scene()
    unsure = np.where(truth, 0.7, 0.05).astype(np.float32)  # returned as it is, but
    unsure[5:9, 5:9] = 0.7  # for a speck in a corner
    got = grabcut_proposal(image, unsure)
    assert np.array_equal(got, truth)


def test_the_models_rim_beside_the_mask_is_kept_and_nothing_further():
    mask = np.zeros((100, 100), bool)
    mask[40:60, 40:60] = True
    proposal = np.zeros((100, 100), bool)
    proposal[37:63, 40:60] = True  # the model drew the edge 3 px further on two sides
    proposal[80:90, 80:90] = True  # and a region the refinement dropped whole
    got = keep_rim(mask, proposal)
    expected = mask.copy()
    expected[39, 40:60] = expected[60, 40:60] = True  # one pixel of it comes back
    assert np.array_equal(got, expected)
    assert not keep_rim(np.zeros_like(mask), proposal).any()


def _disk_drawn_outside(centre):
    """A bright disk on a dark ground, and its mask as a person draws it: one pixel wider."""
    rng = np.random.default_rng(0)
    disk = np.zeros((240, 320), np.uint8)
    cv2.circle(disk, centre, 60, 1, -1)
    image = rng.integers(20, 60, (240, 320, 3)).astype(np.uint8)
    image[disk > 0] = rng.integers(180, 230, (int(disk.sum()), 3)).astype(np.uint8)
    return image, cv2.dilate(disk, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))) > 0


def test_an_edge_drawn_outside_the_colours_survives_the_refinement():
    """A person's mask keeps the object's edge pixels; GrabCut's colours alone would give the
    outer ring to the background, the model that learnt the masks keeps it."""
    image, label = _disk_drawn_outside((160, 120))
    depth = cv2.distanceTransform(label.astype(np.uint8), cv2.DIST_L2, 5)
    prob = np.where(depth > 4, 0.97, np.where(label, 0.7, 0.02)).astype(np.float32)
    assert np.array_equal(grabcut_proposal(image, prob), label)


def test_a_negative_click_leaves_the_masks_edge_elsewhere_as_it_was():
    """GrabCut cuts the whole window; the mask's edge pixels it would shave away from the
    click (mixed or background colours a person's mask keeps) stay."""
    image, drawn = _disk_drawn_outside((140, 120))
    prev = drawn.copy()
    prev[100:140, 199:240] = True  # a wrong piece beside the object
    probs = np.where(drawn, 0.95, np.where(prev, 0.8, 0.05)).astype(np.float32)
    inside, window = grabcut_refine(image, prev, [Click(225, 120, False)], probs)
    got = _whole(prev, inside, window)
    assert not got[105:135, 210:240].any()
    assert np.array_equal(got[:, :190], drawn[:, :190])


def test_large_images_keep_the_models_edges_where_grabcut_changes_nothing():
    """Refined at the working scale, but only the regions it changes are taken from there."""
    image, truth, prob = _bleeding_proposal()
    big = cv2.resize(image, (1280, 960), interpolation=cv2.INTER_NEAREST)
    big_prob = cv2.resize(prob, (1280, 960), interpolation=cv2.INTER_NEAREST)
    big_prob[400:401, 500:700] = 0.02  # a one-pixel line of background inside the object
    got = grabcut_proposal(big, big_prob)
    assert got.shape == (960, 1280)
    assert not got[400, 520:680].any() and got[398, 520:680].all()
    assert not got[740:900, 460:740].any()  # the doubtful background below still goes


def test_grey_and_16_bit_images():
    image, truth, prob = _bleeding_proposal()
    grey = (image.mean(axis=2) * 257).astype(np.uint16)
    got = grabcut_proposal(grey, prob)
    assert got.dtype == bool and iou(got, truth) > 0.95


def test_the_same_clicks_give_the_same_mask_whatever_ran_before():
    """GrabCut's colour models start from a random draw: seeded, so a click repeated (Esc,
    then the same click) redraws the same mask after any other work."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)  # colours that overlap
    image[30:90, 40:120] //= 2
    prev = np.zeros((120, 160), bool)
    prev[35:85, 45:110] = True
    probs = np.clip(rng.normal(0.5, 0.2, prev.shape), 0, 1).astype(np.float32)
    clicks = [Click(115, 60, True), Click(50, 40, False)]
    refined, proposed = [], []
    for draws in range(6):
        cv2.randu(np.zeros((draws * 997 + 1, 3)), 0, 1)  # other work moves the generator
        refined.append(_whole(prev, *grabcut_refine(image, prev, clicks, probs)))
        proposed.append(grabcut_proposal(image, probs))
    assert all(np.array_equal(m, refined[0]) for m in refined)
    assert all(np.array_equal(m, proposed[0]) for m in proposed)
