"""A refining model's closer look: the network again on a crop around the object it found."""

from __future__ import annotations

import numpy as np

from segapp.ml.closer_look import MARGIN, SURE, closer_look, crop_box
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
