"""The standard annotator's next click, click maps and IoU (segapp.core.clicks)."""

from __future__ import annotations

import cv2
import numpy as np

from segapp.core.clicks import Click, click_maps, error_depth, iou, next_click


def _square(shape=(41, 41), lo=10, hi=30) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[lo : hi + 1, lo : hi + 1] = True
    return m


def _disk(shape, centre, radius) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.circle(m, centre, radius, 1, -1)
    return m.astype(bool)


def test_empty_prediction_clicks_positive_at_the_centre():
    truth = _square()  # 21 x 21, centre (20, 20)
    assert next_click(truth, np.zeros_like(truth)) == Click(20.0, 20.0, True)


def test_spurious_blob_clicks_negative_at_its_centre():
    truth = _square((80, 80), 5, 25)
    pred = truth | _disk(truth.shape, (60, 55), 6)
    assert next_click(truth, pred) == Click(60.0, 55.0, False)


def test_the_deeper_error_wins():
    truth = _disk((80, 80), (20, 20), 12)
    pred = truth & ~_disk(truth.shape, (20, 20), 3)  # a small hole: false negative
    pred |= _disk(truth.shape, (60, 60), 8)  # a larger false positive
    c = next_click(truth, pred)
    assert c == Click(60.0, 60.0, False)
    pred[_disk(truth.shape, (60, 60), 8)] = False
    pred[_disk(truth.shape, (60, 60), 2)] = True  # now the hole is deeper
    assert next_click(truth, pred) == Click(20.0, 20.0, True)


def test_no_error_no_click():
    truth = _square()
    assert next_click(truth, truth.copy()) is None
    assert next_click(np.zeros((5, 5), bool), np.zeros((5, 5), bool)) is None


def test_ignored_pixels_are_no_error():
    truth = _square()
    pred = truth.copy()
    blob = _disk(truth.shape, (5, 35), 3)
    pred |= blob
    assert next_click(truth, pred, ignore=blob) is None
    assert next_click(truth, pred) == Click(5.0, 35.0, False)
    # an ignored hole in the truth: only the rest of it is missed
    ignore = _square(truth.shape, 10, 30) & ~_square(truth.shape, 10, 20)
    c = next_click(truth, np.zeros_like(truth), ignore)
    assert c.positive and 10 <= c.x <= 20 and 10 <= c.y <= 20


def test_the_image_border_counts_as_boundary():
    fn_strip = np.zeros((40, 60), bool)
    fn_strip[:, :10] = True  # missed: a strip 10 px wide along the left border
    depth = error_depth(fn_strip)
    assert depth[20, 0] == 1.0 and depth[20, 4] == depth[20, 5] == 5.0
    c = next_click(fn_strip, np.zeros_like(fn_strip))
    assert c.positive and c.x in (4.0, 5.0)
    # a disk of radius 7 inside is deeper than the strip (whose far side is the border)
    pred = _disk(fn_strip.shape, (40, 20), 7)
    assert next_click(fn_strip, pred) == Click(40.0, 20.0, False)


def test_click_maps_are_disks_in_two_layers():
    clicks = [Click(10, 12, True), Click(30.4, 20.6, False), Click(50, 5, True)]
    maps = click_maps(clicks, (40, 60), radius=3)
    assert maps.shape == (2, 40, 60) and maps.dtype == np.float32
    assert set(np.unique(maps)) == {0.0, 1.0}
    assert maps[0, 12, 10] == 1 and maps[1, 21, 30] == 1 and maps[0, 5, 50] == 1
    assert maps[1, 12, 10] == 0 and maps[0, 21, 30] == 0
    expected = _disk((40, 60), (10, 12), 3)
    np.testing.assert_array_equal(maps[0, :, :25] > 0, expected[:, :25])
    assert 20 <= maps[1].sum() <= 40  # about pi * 3^2
    assert click_maps([], (4, 4), 2).sum() == 0
    assert click_maps([Click(1, 1, True)], (4, 4), 0.2)[0].sum() > 1  # at least radius 1


def test_click_scaled():
    assert Click(10, 20, True).scaled(0.5, 2, dx=4, dy=5) == Click(3.0, 30.0, True)


def test_iou():
    a, b = _square(), _square(lo=10, hi=20)
    assert iou(a, b) == 121 / 441
    assert iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert iou(a, b, ignore=a & ~b) == 1.0
