"""Hue-turned training views: where colour tells the classes apart, and what the views do."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from segapp.ml import hue_views
from segapp.ml.data import build_augmentation, seed_augmentation


def _colour(hue: int, rng) -> list[int]:
    """An RGB colour of OpenCV hue ``hue`` (0..179), well saturated."""
    hsv = np.uint8([[[hue % 180, rng.integers(150, 256), rng.integers(150, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].tolist()


def _discs(n: int, seed: int, object_hue=None, other_hue=None):
    """``n`` 96 px images of six discs each on a plain backdrop of a random colour; half the
    discs are the class (label 1). With hues given, the class is ``object_hue`` and the
    rest ``other_hue``; without, every disc has a random hue (the class is not its colour)."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(n):
        image = np.zeros((96, 96, 3), np.uint8)
        image[:] = _colour(int(rng.integers(0, 180)), rng)
        mask = np.zeros((96, 96), np.uint8)
        for k in range(6):
            centre = tuple(int(v) for v in rng.integers(12, 84, 2))
            radius = int(rng.integers(6, 14))
            mine = k % 2 == 0
            hue = object_hue if mine else other_hue
            hue = int(rng.integers(0, 180)) if hue is None else hue
            cv2.circle(image, centre, radius, _colour(hue, rng), -1)
            cv2.circle(mask, centre, radius, 1 if mine else 0, -1)
        images.append(image)
        masks.append(mask)
    return images, masks


def test_a_class_of_its_own_colour_keeps_its_colours():
    images, masks = _discs(10, 0, object_hue=0, other_hue=60)  # red among green
    auc, counted = hue_views.hue_auc(images, masks)
    assert auc > 0.95 and counted == 10
    views = hue_views.decide("auto", images, masks)
    assert not views.turn
    assert "colour tells the classes apart" in views.describe()


def test_a_class_of_any_colour_gets_hue_turned_views():
    images, masks = _discs(10, 1)
    auc, _ = hue_views.hue_auc(images, masks)
    assert 0.3 < auc < 0.7
    views = hue_views.decide("auto", images, masks)
    assert views.turn
    assert "a fifth with their hue turned" in views.describe()
    assert "does not tell" in views.describe()


def test_any_colour_class_among_many_classes_is_judged_by_each():
    """Class 2 is always blue: colour finds it, so no class gets turned views."""
    images, masks = _discs(10, 2)
    for image, mask in zip(images, masks, strict=True):
        cv2.circle(image, (48, 48), 10, _colour(110, np.random.default_rng(0)), -1)
        cv2.circle(mask, (48, 48), 10, 2, -1)
    assert hue_views.decide("auto", images, masks, foreground=(1,)).turn
    assert not hue_views.decide("auto", images, masks, foreground=(1, 2)).turn


def test_grey_images_and_too_few_images_keep_their_colours():
    images, masks = _discs(10, 3)
    grey = [np.repeat(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[..., None], 3, 2) for im in images]
    views = hue_views.decide("auto", grey, masks)
    assert not views.turn and "grey" in views.how
    views = hue_views.decide("auto", images[:3], masks[:3])
    assert not views.turn and "too few" in views.how


def test_ignored_pixels_count_for_neither_side():
    images, masks = _discs(10, 4, object_hue=0, other_hue=60)
    # the green discs ignored: only the red class and the backdrops are left
    masks = [np.where(m == 0, 0, 1).astype(np.uint8) for m in masks]
    for image, mask in zip(images, masks, strict=True):
        green = np.abs(image.astype(int) - _colour(60, np.random.default_rng(0))).sum(2) < 200
        mask[green & (mask == 0)] = 255
    assert hue_views.hue_auc(images, masks)[0] > 0.95


def test_a_set_hue_is_obeyed_and_a_wrong_one_refused():
    images, masks = _discs(10, 5, object_hue=0, other_hue=60)
    assert hue_views.decide("turn", images, masks).turn
    assert not hue_views.decide("keep", images, masks).turn
    with pytest.raises(ValueError, match="hue must be one of"):
        hue_views.decide("rainbow", images, masks)


def test_turned_views_change_hues_and_leave_grey_and_labels_alone():
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = (220, 30, 30)  # red
    image[:, 32:] = 128  # grey
    mask = np.zeros((64, 64), np.uint8)
    mask[:, :32] = 1

    def hues(turn: bool) -> tuple[set[int], float]:
        """The sixths of the colour circle the red half was seen in, and the share of the
        grey half's pixels seen grey (saturation under 30 of 255), over 100 views."""
        transform = build_augmentation("medium", 64, "resize", True, upright=True, hue_turn=turn)
        seen, grey = set(), []
        for seed in range(100):
            seed_augmentation(transform, seed)
            out = transform(image=image, mask=mask)
            hsv = cv2.cvtColor(out["image"], cv2.COLOR_RGB2HSV)
            labels = out["mask"]
            seen.add(int(np.median(hsv[..., 0][labels == 1])) * 6 // 180)
            grey.append(float((hsv[..., 1][labels == 0] < 30).mean()))
        return seen, float(np.mean(grey))

    turned, grey_turned = hues(True)
    kept, grey_kept = hues(False)
    assert kept <= {0, 5}  # red stays red (hue near 0 or 179) without turns
    assert len(turned - {0, 5}) >= 3  # elsewhere on the colour circle with them
    assert grey_turned > 0.8 and abs(grey_turned - grey_kept) < 0.05  # grey stays grey


def test_a_first_round_keeps_its_colours_and_later_rounds_turn_them():
    images, masks = _discs(10, 7)
    first = hue_views.decide("auto", images, masks, continuing=False)
    assert not first.turn and "first round" in first.how
    assert hue_views.decide("auto", images, masks, continuing=True).turn
    assert hue_views.decide("turn", images, masks, continuing=False).turn  # as told


def test_a_training_run_says_whether_it_turns_hues(tmp_path):
    """From a preset's new network the colours stay; a round continuing from that version
    turns them (its images' colour does not tell the discs apart), and config.json says so."""
    from conftest import tiny_train_config

    from segapp.ml.train import train

    images, masks = _discs(10, 6)
    for sub in ("images", "masks"):
        (tmp_path / "d" / sub).mkdir(parents=True)
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        cv2.imwrite(str(tmp_path / "d" / "images" / f"{i}.png"), image[..., ::-1])
        cv2.imwrite(str(tmp_path / "d" / "masks" / f"{i}.png"), mask * 255)
    list(train(tiny_train_config(tmp_path, tmp_path / "d", epochs=1)))
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "their colours kept; auto: a new network's first round" in meta["hue_views"]
    again = tiny_train_config(
        tmp_path, tmp_path / "d", epochs=1, model=str(tmp_path / "run"), out=str(tmp_path / "r2")
    )
    list(train(again))
    meta = json.loads((tmp_path / "r2" / "config.json").read_text())
    assert "a fifth with their hue turned; auto: colour does not tell" in meta["hue_views"]
