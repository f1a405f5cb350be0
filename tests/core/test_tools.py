"""Pixel-level tests of the pure editing tools (segapp.core.tools)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segapp.core import tools


def applied(mask: np.ndarray, patch: tools.Patch | None) -> np.ndarray:
    out = mask.copy()
    if patch is not None:
        patch.apply(out)
    return out


def distance_to_segment(shape, p0, p1) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    (ax, ay), (bx, by) = p0, p1
    dx, dy = bx - ax, by - ay
    t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
    return np.hypot(xx - (ax + t * dx), yy - (ay + t * dy))


# ---------------------------------------------------------------------------- brush


def test_dab_paints_a_disk_of_the_right_area_without_touching_the_input():
    mask = np.zeros((100, 100), np.uint8)
    patch = tools.dab(mask, (50, 50), 10, 3)
    assert mask.sum() == 0  # pure
    assert patch is not None and patch.rect == (40, 40, 21, 21)
    out = applied(mask, patch)
    assert set(np.unique(out)) == {0, 3}
    assert abs((out == 3).sum() - np.pi * 100) < 0.05 * np.pi * 100
    d = distance_to_segment(mask.shape, (50, 50), (50, 50))
    assert (out[d <= 9.5] == 3).all()
    assert (out[d > 10.5] == 0).all()


def test_dab_radius_zero_is_one_pixel_and_clips_at_the_border():
    mask = np.zeros((20, 30), np.uint8)
    assert (applied(mask, tools.dab(mask, (4, 7), 0, 1)) == 1).sum() == 1
    corner = tools.dab(mask, (0.4, 0.2), 5, 1)  # floats are rounded
    assert corner is not None and corner.rect == (0, 0, 6, 6)
    assert tools.dab(mask, (-50, -50), 5, 1) is None


def test_dab_that_changes_nothing_returns_none():
    mask = np.full((20, 20), 2, np.uint8)
    assert tools.dab(mask, (10, 10), 4, 2) is None


@pytest.mark.parametrize("radius", [1, 3, 12])
def test_fast_segment_is_a_capsule_with_no_gaps(radius):
    mask = np.zeros((300, 500), np.uint8)
    p0, p1 = (10, 20), (490, 270)  # one mouse move of ~540 px
    patch = tools.segment(mask, p0, p1, radius, 1)
    assert patch.rect == (
        max(10 - radius, 0),
        max(20 - radius, 0),
        min(490 + radius + 1, 500) - max(10 - radius, 0),
        min(270 + radius + 1, 300) - max(20 - radius, 0),
    )
    out = applied(mask, patch)
    d = distance_to_segment(mask.shape, p0, p1)
    assert (out[d <= radius - 0.5] == 1).all()  # no gaps
    assert (out[d > radius + 1.0] == 0).all()  # no spill


def test_one_pixel_segment_is_an_unbroken_line():
    mask = np.zeros((300, 500), np.uint8)
    out = applied(mask, tools.segment(mask, (10, 20), (490, 270), 0, 1))
    n, _ = cv2.connectedComponents(out, connectivity=8)
    assert n == 2  # background + one 8-connected line
    assert (out[:, 10:491].sum(axis=0) >= 1).all() and (out[20:271].sum(axis=1) >= 1).all()


def test_segment_caps_match_the_dab():
    mask = np.zeros((60, 60), np.uint8)
    seg = applied(mask, tools.segment(mask, (20, 30), (40, 30), 8, 1))
    dab = applied(mask, tools.dab(mask, (20, 30), 8, 1))
    assert (seg[dab == 1] == 1).all()


def test_erase_is_painting_background():
    mask = np.ones((40, 40), np.uint8)
    out = applied(mask, tools.dab(mask, (20, 20), 5, 0))
    assert 0 < (out == 0).sum() < 40 * 40


def test_overwrite_protects_other_classes():
    mask = np.zeros((50, 50), np.uint8)
    mask[:, 25:] = 2
    mask[0:5, 0:5] = 1
    protected = applied(mask, tools.segment(mask, (0, 20), (49, 20), 6, 1, overwrite={0, 1}))
    assert (protected[:, 25:] == 2).all()
    assert (protected[14:27, :25] == 1).all()
    free = applied(mask, tools.segment(mask, (0, 20), (49, 20), 6, 1))
    assert (free[20, :] == 1).all()
    # protected eraser (background + active class 1) erases only class 1
    erased = applied(mask, tools.dab(mask, (25, 2), 30, 0, overwrite={0, 1}))
    assert (erased[:, 25:] == 2).all() and (erased == 1).sum() == 0


def test_values_out_of_range_are_rejected():
    mask = np.zeros((10, 10), np.uint8)
    with pytest.raises(ValueError):
        tools.dab(mask, (5, 5), 2, 256)
    with pytest.raises(ValueError):
        tools.dab(np.zeros((10, 10), np.int32), (5, 5), 2, 1)


# ---------------------------------------------------------------------------- polygon


def test_polygon_fills_a_rectangle_and_a_triangle():
    mask = np.zeros((100, 100), np.uint8)
    patch = tools.polygon(mask, [(10, 10), (50, 10), (50, 40), (10, 40)], 4)
    assert patch.rect == (10, 10, 41, 31)
    out = applied(mask, patch)
    assert (out[10:41, 10:51] == 4).all() and (out == 4).sum() == 41 * 31
    tri = applied(mask, tools.polygon(mask, [(0, 0), (60, 0), (0, 60)], 1))
    assert abs((tri == 1).sum() - 60 * 60 / 2) < 2 * 60
    assert tri[5, 5] == 1 and tri[55, 55] == 0
    assert tools.polygon(mask, [(0, 0), (5, 5)], 1) is None


def test_polygon_respects_protection_and_clips():
    mask = np.zeros((30, 30), np.uint8)
    mask[10:20, 10:20] = 3
    out = applied(
        mask, tools.polygon(mask, [(-10, -10), (40, -10), (40, 40), (-10, 40)], 1, {0, 1})
    )
    assert (out[10:20, 10:20] == 3).all() and (out == 1).sum() == 900 - 100


# ---------------------------------------------------------------------------- flood fill


def test_flood_fill_is_4_connected_and_bounded_by_the_region():
    mask = np.zeros((4096, 4096), np.uint8)
    mask[1000:1021, 2000:2021] = 1  # a ring of class 1 ...
    mask[1001:1020, 2001:2020] = 0  # ... around a 19x19 hole
    mask[1020, 2021] = 0
    patch = tools.flood_fill(mask, (2010, 1010), 2)
    assert patch.rect == (2001, 1001, 19, 19)
    out = applied(mask, patch)
    assert (out == 2).sum() == 19 * 19
    assert mask.max() == 1  # pure


def test_flood_fill_grows_its_window_for_large_regions():
    mask = np.zeros((600, 900), np.uint8)
    mask[300, :] = 1  # a wall splits the image
    patch = tools.flood_fill(mask, (5, 5), 3)
    assert patch.rect == (0, 0, 900, 300)
    out = applied(mask, patch)
    assert (out[:300] == 3).all() and (out[301:] == 0).all() and (out[300] == 1).all()


def test_flood_fill_does_not_leak_diagonally_and_respects_protection():
    mask = np.zeros((10, 10), np.uint8)
    mask[5, :5] = 1
    mask[:5, 5] = 1  # the corner (5, 5) stays 0: only a diagonal gap
    out = applied(mask, tools.flood_fill(mask, (0, 0), 7))
    assert (out == 7).sum() == 25 and out[9, 9] == 0
    assert tools.flood_fill(mask, (0, 0), 7, overwrite={0, 7}) is not None
    assert tools.flood_fill(mask, (0, 5), 7, overwrite={0, 7}) is None  # class 1 protected
    assert tools.flood_fill(mask, (0, 5), 1) is None  # same value
    assert tools.flood_fill(mask, (20, 5), 1) is None  # outside


# ---------------------------------------------------------------------------- fill holes
