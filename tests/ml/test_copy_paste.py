"""Copy-paste augmentation: labels follow the pasted pixels, donors are objects, and the
training dataset pastes only where it should."""

from __future__ import annotations

import numpy as np
import pytest

from segapp.ml.copy_paste import CopyPaste, foreground_fraction, paste_donors, paste_object
from segapp.ml.data import Pair, SegDataset
from segapp.ml.registry import preset_spec


def _object_pair(stem: str, value: int = 200, cls: int = 1, size: int = 64) -> Pair:
    """A bright square object (class ``cls``) on a dark background, 1/4 of the image."""
    image = np.full((size, size, 3), 20, np.uint8)
    labels = np.zeros((size, size), np.uint8)
    q = size // 4
    image[q : 3 * q, q : 3 * q] = value
    labels[q : 3 * q, q : 3 * q] = cls
    return Pair(stem, image, labels)


def _background_pair(stem: str = "bg", size: int = 64) -> Pair:
    return Pair(stem, np.full((size, size, 3), 20, np.uint8), np.zeros((size, size), np.uint8))


def test_pasted_labels_follow_the_pasted_pixels():
    bg, donor = _background_pair(), _object_pair("obj", cls=2)
    for seed in range(20):
        image, labels = paste_object(bg.image, bg.labels, donor, np.random.default_rng(seed))
        assert set(np.unique(labels)) == {0, 2}
        # a square of 30..100 % of the donor object's 32 px side
        assert (0.3 * 32) ** 2 * 0.9 <= np.count_nonzero(labels) <= 32 * 32
        assert image[labels == 2].min() > 100  # the object's pixels, soft edge included
        far = np.ones_like(labels, bool)
        ys, xs = np.nonzero(labels)
        far[max(0, ys.min() - 2) : ys.max() + 3, max(0, xs.min() - 2) : xs.max() + 3] = False
        assert (image[far] == 20).all()  # nothing changes away from the pasted object
    assert (bg.labels == 0).all() and (bg.image == 20).all()  # inputs are never modified


def test_pasted_object_occludes_what_was_there():
    target, donor = _object_pair("a", value=60, cls=1), _object_pair("b", value=220, cls=2)
    rng = np.random.default_rng(3)
    _, labels = paste_object(target.image, target.labels, donor, rng)
    # class 2 drawn over class 1 where they overlap, class 1 kept elsewhere
    assert np.count_nonzero(labels == 2) > 0
    assert np.count_nonzero(labels == 1) + np.count_nonzero(labels == 2) >= 32 * 32


def test_empty_donor_changes_nothing():
    target = _object_pair("a")
    image, labels = paste_object(
        target.image, target.labels, _background_pair(), np.random.default_rng(0)
    )
    assert image is target.image and labels is target.labels


def test_donors_are_objects_on_a_background():
    stuff = Pair("em", np.zeros((10, 10, 3), np.uint8), np.ones((10, 10), np.uint8))
    stuff.labels[:, :2] = 0  # 80 % labelled: cell interiors, not an object
    ignored = _background_pair("ign")
    ignored.labels[:] = 255  # all "ignore": no object either
    obj = _object_pair("obj")
    assert foreground_fraction(obj.labels) == pytest.approx(0.25)
    assert foreground_fraction(ignored.labels) == 0
    assert paste_donors([stuff, ignored, _background_pair(), obj]) == [obj]
    assert not CopyPaste([stuff, obj], 1.0)  # one donor: nothing to paste into it but itself


def test_training_views_get_pasted_objects_only_when_asked():
    spec = preset_spec("unet-small", base_channels=4)
    pairs = [_background_pair("bg"), _object_pair("o1"), _object_pair("o2")]

    def foreground_of_background_views(**kw) -> int:
        ds = SegDataset(pairs, spec, 64, 64, augment="none", **kw)
        return sum(int(ds[0][1].sum() > 0) for _ in range(10))

    assert foreground_of_background_views(copy_paste=0.0) == 0
    assert foreground_of_background_views(copy_paste=1.0) == 10
    assert foreground_of_background_views(copy_paste=1.0, resize_mode="crop") == 0
    assert foreground_of_background_views(copy_paste=1.0, train=False) == 0
