"""Copy-paste augmentation: labels follow the pasted pixels, donors are objects, and the
training dataset pastes only where it should; scrambled distractors are the object's
pixels without its shape, labelled background; objects out of focus are blurred where they
are labelled, the background stays sharp."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segapp.ml.copy_paste import (
    BLUR_SIGMA,
    CopyPaste,
    blur_objects,
    foreground_fraction,
    paste_distractor,
    paste_donors,
    paste_object,
    scramble,
)
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


def _striped_pair(stem: str = "striped", size: int = 64) -> Pair:
    """An object whose every pixel differs, so shuffled tiles can be traced."""
    pair = _object_pair(stem, size=size)
    values = np.arange(size * size, dtype=np.uint32).reshape(size, size)
    pair.image[..., 0] = values % 256
    pair.image[..., 1] = values // 256
    return pair


def test_scramble_shuffles_whole_tiles_of_image_and_labels_alike():
    pair = _striped_pair()
    pair.labels[:32, :] += 1  # labels 0..2, so a label tile can be traced too
    image, labels = scramble(pair.image, pair.labels, 4, np.random.default_rng(0))
    assert image.shape == pair.image.shape and labels.shape == pair.labels.shape
    assert not np.array_equal(image, pair.image)  # shuffled...

    def tiles(a: np.ndarray) -> list[bytes]:
        out = []
        for r in range(4):
            for c in range(4):
                t = a[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16]
                # a tile, whichever way it was flipped
                out.append(min(t[::fy, ::fx].tobytes() for fy in (1, -1) for fx in (1, -1)))
        return sorted(out)

    assert tiles(image) == tiles(pair.image)  # ...but made of the same tiles, whole
    stacked = np.dstack([image, labels])
    assert tiles(stacked) == tiles(np.dstack([pair.image, pair.labels]))  # labels moved along
    # a side that does not divide: the remainder is dropped
    odd, odd_labels = scramble(
        pair.image[:30, :50], pair.labels[:30, :50], 4, np.random.default_rng(1)
    )
    assert odd.shape[:2] == odd_labels.shape == (28, 48)


def test_distractor_is_the_objects_pixels_labelled_background():
    target, donor = _object_pair("a", value=60, cls=1), _object_pair("b", cls=2)
    donor.image[donor.labels == 2] = (200, 30, 90)
    for seed in range(10):
        image, labels = paste_distractor(
            target.image, target.labels, donor, np.random.default_rng(seed)
        )
        changed = (image != target.image).any(axis=2)
        assert changed.sum() >= (0.3 * 32) ** 2 * 0.5  # a distractor was pasted
        assert set(np.unique(labels)) <= {0, 1}  # the donor's class is not pasted
        assert (labels[changed] == 0).all()  # what it covers is background, object or not
        assert (labels[~changed] == target.labels[~changed]).all()
        # the donor object's colour, its one-pixel soft edge aside
        inner = (image == (200, 30, 90)).all(axis=2)
        assert inner.sum() >= (0.3 * 32 - 2) ** 2
        assert changed.sum() <= inner.sum() + 4 * 32 + 4
    assert (target.labels[16:48, 16:48] == 1).all() and (target.image[0, 0] == 20).all()


def test_distractor_is_one_object_so_no_small_object_is_pasted_whole():
    """Nine small objects (nuclei, say) in one donor: a distractor scrambles one of them, in
    tiles smaller than it, never a box of whole ones labelled background."""
    target = _background_pair(size=96)
    image = np.full((64, 64, 3), 20, np.uint8)
    labels = np.zeros((64, 64), np.uint8)
    for i in range(9):
        y, x = 6 + 20 * (i // 3), 6 + 20 * (i % 3)
        image[y : y + 8, x : x + 8] = (100 + 15 * i, 50, 200 - 15 * i)
        labels[y : y + 8, x : x + 8] = 1
    donor = Pair("nuclei", image, labels)
    picked = set()
    for seed in range(40):
        out, out_labels = paste_distractor(
            target.image, target.labels, donor, np.random.default_rng(seed)
        )
        changed = (out != target.image).any(axis=2)
        assert 0 < changed.sum() <= 10 * 10  # one 8 px object and its soft edge
        assert (out_labels == 0).all()
        colours = {tuple(c) for c in image[labels == 1]} & {tuple(c) for c in out[changed]}
        assert len(colours) == 1  # one object's pixels, not several
        picked |= colours
    assert len(picked) > 3  # each object can be the one


def test_distractors_need_only_one_donor_and_no_copy_paste():
    obj = _object_pair("obj")
    assert CopyPaste([obj], 1.0, distractors=0.5)  # itself, scrambled
    assert not CopyPaste([obj], 0.0, distractors=0.0)
    assert not CopyPaste([_background_pair()], 0.0, distractors=1.0)  # no object to scramble
    spec = preset_spec("unet-small", base_channels=4)
    pairs = [_background_pair("bg"), _striped_pair("o1")]

    def changed_background_views(**kw) -> tuple[int, int]:
        """(views of the background image whose pixels changed, ... with any foreground)."""
        ds = SegDataset(pairs, spec, 64, 64, augment="none", copy_paste=0.0, **kw)
        views = [ds[0] for _ in range(10)]
        flat = views[0][0].flatten()[0]
        return sum(int((x != flat).any()) for x, _, _ in views), sum(
            int(y.sum() > 0) for _, y, _ in views
        )

    assert changed_background_views(distractors=0.0) == (0, 0)
    assert changed_background_views(distractors=1.0) == (10, 0)  # pasted, as background
    assert changed_background_views(distractors=1.0, resize_mode="crop") == (0, 0)
    assert changed_background_views(distractors=1.0, train=False) == (0, 0)


def _checkered_pair(stem: str = "checkered", size: int = 64, channels: int = 3) -> Pair:
    """A 1-px checkerboard everywhere (the sharpest texture there is), the middle half
    labelled object."""
    board = (np.indices((size, size)).sum(axis=0) % 2 * 200 + 20).astype(np.uint8)
    labels = np.zeros((size, size), np.uint8)
    labels[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return Pair(stem, np.repeat(board[:, :, None], channels, axis=2), labels)


def _contrast(a: np.ndarray) -> float:
    """Mean absolute difference between horizontal neighbours: high when sharp."""
    a = a.astype(np.float32)
    return float(np.abs(np.diff(a, axis=1)).mean())


@pytest.mark.parametrize("channels", [3, 1])
def test_blurred_objects_lose_their_texture_and_the_background_stays_sharp(channels):
    pair = _checkered_pair(channels=channels)
    before = pair.image.copy()
    out = blur_objects(pair.image, pair.labels, np.random.default_rng(0))
    assert out.shape == pair.image.shape and out.dtype == np.uint8
    assert np.array_equal(pair.image, before)  # a new image, the pair's own untouched
    inner = (slice(24, 40), slice(24, 40))  # well inside the object
    assert _contrast(out[inner]) < 0.2 * _contrast(before[inner])
    reach = int(np.ceil(4 * BLUR_SIGMA[1]))  # beyond any blur's feathered edge
    far = np.ones(pair.labels.shape, bool)
    far[16 - reach : 48 + reach, 16 - reach : 48 + reach] = False
    assert far.any()
    assert np.array_equal(out[far], before[far])
    empty = np.zeros_like(pair.labels)
    assert np.array_equal(blur_objects(before, empty, np.random.default_rng(0)), before)


def test_objects_are_blurred_in_training_views_only_when_asked():
    torch.manual_seed(0)  # the views' draws come from torch's generator
    spec = preset_spec("unet-small", base_channels=4)
    pairs = [_checkered_pair("o1")]

    def blurred_views(**kw) -> int:
        ds = SegDataset(pairs, spec, 64, 64, augment="none", copy_paste=0.0, **kw)
        return sum(int(_contrast(ds[0][0][:, 24:40, 24:40].numpy()) < 0.1) for _ in range(10))

    assert CopyPaste(pairs, 0.0, object_blur=0.5)
    assert not CopyPaste([_background_pair()], 0.0, object_blur=1.0)  # no objects
    assert blurred_views(object_blur=0.0) == 0
    assert blurred_views(object_blur=1.0) == 10
    assert 0 < blurred_views(object_blur=0.5) < 10
    assert blurred_views(object_blur=1.0, resize_mode="crop") == 0
    assert blurred_views(object_blur=1.0, train=False) == 0
