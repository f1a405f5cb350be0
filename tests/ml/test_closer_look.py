"""A refining model's closer look: the network again on a crop around each object it found."""

from __future__ import annotations

import numpy as np

from segapp.ml.closer_look import (
    MARGIN,
    MAX_LOOKS,
    REGIONS_SIDE,
    SURE,
    closer_look,
    crop_box,
    crop_boxes,
)
from segapp.ml.proposal_refine import proposal_probs


def _sure(shape=(300, 400), rows=slice(100, 160), cols=slice(180, 210)) -> np.ndarray:
    sure = np.zeros(shape, bool)
    sure[rows, cols] = True
    return sure


def test_the_crop_frames_the_sure_object_with_context_in_the_images_aspect():
    top, left, h, w = crop_box(_sure())  # a 60 x 30 object in a 300 x 400 image
    assert top <= 100 and top + h >= 160 and left <= 180 and left + w >= 210
    assert h >= 60 * (1 + 2 * MARGIN) - 1  # context above and below
    assert abs(w / h - 400 / 300) < 0.02  # squashed to the model's square as whole images are
    assert top >= 0 and left >= 0 and top + h <= 300 and left + w <= 400


def test_a_crop_at_the_edge_stays_inside_the_image():
    top, left, h, w = crop_box(_sure(rows=slice(0, 20), cols=slice(380, 400)))
    assert top == 0 and left + w == 400 and h < 300


def test_no_crop_without_a_sure_pixel_or_when_the_object_fills_the_frame():
    assert crop_box(np.zeros((30, 40), bool)) is None
    assert crop_box(_sure((30, 40), slice(2, 28), slice(3, 37))) is None


def test_the_second_look_replaces_the_first_inside_the_crop_only():
    image = np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8)
    probs = np.full((1, 300, 400), 0.05, np.float32)
    probs[0, 100:160, 180:210] = 0.95
    probs[0, 260:, :] = 0.6  # doubt far from the object: not looked at again
    seen = []

    def predict(crop: np.ndarray) -> np.ndarray:
        seen.append(crop.shape)
        return np.full((1, *crop.shape[:2]), 0.5, np.float32)

    out = closer_look(predict, image, probs)
    top, left, h, w = crop_box(probs[0] > SURE)
    assert seen == [(h, w, 3)]
    assert np.all(out[0, top : top + h, left : left + w] == 0.5)
    outside = np.ones((300, 400), bool)
    outside[top : top + h, left : left + w] = False
    assert np.array_equal(out[0][outside], probs[0][outside])
    assert probs[0, 130, 190] == np.float32(0.95)  # the first look is not changed in place
    multi = np.concatenate([1 - probs, probs])
    assert closer_look(predict, image, multi) is multi  # several classes: one look


def test_each_sure_region_gets_its_own_look_the_largest_first_and_specks_none():
    sure = _sure()  # 60 x 30 at rows 100-160, columns 180-210 of 300 x 400
    sure[20:50, 20:35] = True  # a second region, a quarter of the first's area
    sure[250, 300] = True  # a speck: under MIN_SHARE of the largest
    boxes = crop_boxes(sure)
    assert boxes == [crop_box(_sure()), crop_box(_sure(rows=slice(20, 50), cols=slice(20, 35)))]
    many = np.zeros((300, 400), bool)
    for i in range(MAX_LOOKS + 2):
        many[10 + 45 * i : 30 + 45 * i, 10 : 20 + i] = True  # the lower ones larger
    boxes = crop_boxes(many)
    assert len(boxes) == MAX_LOOKS  # the cost is bounded
    assert boxes[0] == crop_box(_sure(rows=slice(235, 255), cols=slice(10, 25)))  # the largest
    assert crop_boxes(np.zeros((30, 40), bool)) == []


def test_a_large_map_is_searched_at_a_reduced_scale_and_framed_at_full_scale():
    shape = (3000, 4000)  # a 12 MP photo: searched at a quarter of its side
    step = -(-max(shape) // REGIONS_SIDE)
    assert step > 1
    person = _sure(shape, rows=slice(1001, 1603), cols=slice(1802, 2101))
    far = _sure(shape, rows=slice(403, 703), cols=slice(3001, 3151))  # a quarter of its area
    boxes = crop_boxes(person | far)
    assert len(boxes) == 2
    for box, exact in zip(boxes, (crop_box(person), crop_box(far)), strict=True):
        assert all(abs(a - b) <= 2 * step for a, b in zip(box, exact, strict=True)), (box, exact)


def test_the_looks_of_a_large_image_replace_the_first_inside_their_crops_only():
    image = np.zeros((3000, 4000, 3), np.uint8)
    probs = np.full((1, 3000, 4000), 0.05, np.float32)
    probs[0, 1000:1600, 1800:2100] = 0.95

    def predict(crop: np.ndarray) -> np.ndarray:
        return np.full((1, *crop.shape[:2]), 0.5, np.float32)

    out = closer_look(predict, image, probs)
    [(top, left, h, w)] = crop_boxes(probs[0] > SURE)
    inside = np.zeros((3000, 4000), bool)
    inside[top : top + h, left : left + w] = True
    assert np.all(out[0][inside] == 0.5)
    assert np.array_equal(out[0][~inside], probs[0][~inside])


def test_overlapping_looks_are_averaged_and_the_rest_kept():
    image = np.random.default_rng(1).integers(0, 255, (300, 400, 3), np.uint8)
    probs = np.full((1, 300, 400), 0.05, np.float32)
    probs[0, 100:160, 180:210] = 0.95
    probs[0, 100:160, 218:240] = 0.95  # a second region beside it: the crops overlap
    values = iter([0.2, 0.6])

    def predict(crop: np.ndarray) -> np.ndarray:
        return np.full((1, *crop.shape[:2]), next(values), np.float32)

    out = closer_look(predict, image, probs)
    (t0, l0, h0, w0), (t1, l1, h1, w1) = crop_boxes(probs[0] > SURE)
    first = np.zeros((300, 400), bool)
    first[t0 : t0 + h0, l0 : l0 + w0] = True
    second = np.zeros((300, 400), bool)
    second[t1 : t1 + h1, l1 : l1 + w1] = True
    assert (first & second).any() and (first & ~second).any() and (second & ~first).any()
    assert np.allclose(out[0][first & second], 0.4)
    assert np.allclose(out[0][first & ~second], 0.2) and np.allclose(out[0][second & ~first], 0.6)
    assert np.array_equal(out[0][~(first | second)], probs[0][~(first | second)])


def test_only_a_refining_model_that_sees_whole_images_looks_closer():
    image = np.zeros((300, 400, 3), np.uint8)
    probs = np.full((1, 300, 400), 0.05, np.float32)
    probs[0, 100:160, 180:210] = 0.95
    calls = []

    def predict(img: np.ndarray) -> np.ndarray:
        calls.append(img.shape[:2])
        return probs if img.shape[:2] == (300, 400) else np.zeros((1, *img.shape[:2]), np.float32)

    def looks(method: str, whole_images: bool, closer: bool = True) -> int:
        calls.clear()
        proposal_probs(predict, image, method, whole_images, closer)
        return len(calls)

    assert looks("grabcut", True) == 2
    assert looks("none", True) == 1  # proposals not refined
    assert looks("grabcut", False) == 1  # crops at native scale: a crop would not zoom
    assert looks("grabcut", True, closer=False) == 1  # for measuring it
