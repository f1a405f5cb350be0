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


def ring(mask, y0, x0, size, value):
    mask[y0 : y0 + size, x0 : x0 + size] = value
    mask[y0 + 1 : y0 + size - 1, x0 + 1 : x0 + size - 1] = 0


def test_fill_holes_fills_enclosed_background_only():
    mask = np.zeros((60, 60), np.uint8)
    ring(mask, 10, 10, 20, 1)  # hole of 18x18
    mask[15:18, 15:18] = 2  # another class inside the hole: kept
    mask[0:10, 40:50] = 1
    mask[0:5, 42:48] = 0  # a "hole" open to the image border: not a hole
    patch = tools.fill_holes(mask, 1)
    out = applied(mask, patch)
    assert (out[11:29, 11:29][mask[11:29, 11:29] == 0] == 1).all()
    assert (out[15:18, 15:18] == 2).all()
    assert (out[0:5, 42:48] == 0).all()
    assert (out[30:, :] == 0).all()
    assert patch.rect[2] * patch.rect[3] < 60 * 60  # worked on the class's box


def test_fill_holes_diagonal_gap_keeps_a_hole():
    mask = np.zeros((20, 20), np.uint8)
    ring(mask, 5, 5, 8, 1)
    mask[5, 5] = 0  # corner missing: inside touches outside only diagonally
    out = applied(mask, tools.fill_holes(mask, 1))
    assert (out[6:12, 6:12] == 1).all()


def test_fill_holes_all_classes_innermost_first():
    mask = np.zeros((50, 50), np.uint8)
    ring(mask, 5, 5, 40, 1)
    ring(mask, 15, 15, 20, 2)
    out = applied(mask, tools.fill_holes(mask))
    assert (out[16:34, 16:34] == 2).all()  # inside the inner ring: class 2
    assert (out[6:15, 6:44] == 1).all()  # between the rings: class 1
    assert tools.fill_holes(out) is None
    assert tools.fill_holes(np.zeros((5, 5), np.uint8), 1) is None


# ---------------------------------------------------------------------------- islands


def test_remove_islands_removes_small_components_of_the_class_only():
    mask = np.zeros((40, 40), np.uint8)
    mask[1:3, 1:3] = 1  # 4 px
    mask[10:20, 10:20] = 1  # 100 px
    mask[30:32, 30:32] = 2  # 4 px of another class
    mask[5, 5] = 1
    mask[6, 6] = 1  # 2 px, 8-connected
    out = applied(mask, tools.remove_islands(mask, 10, 1))
    assert (out[10:20, 10:20] == 1).all() and (out == 1).sum() == 100
    assert (out[30:32, 30:32] == 2).all()
    out_all = applied(mask, tools.remove_islands(mask, 10))
    assert (out_all == 2).sum() == 0 and (out_all == 1).sum() == 100
    assert tools.remove_islands(out_all, 10) is None


def test_a_removed_island_takes_the_class_around_it():
    """A speck of one class inside another became a hole of background (walk-through 6)."""
    mask = np.zeros((30, 30), np.uint8)
    mask[5:25, 5:25] = 3  # a face
    mask[10:12, 10:12] = 4  # a speck of glasses inside it
    mask[0, 29] = 4  # one at the image's corner, on background
    out = applied(mask, tools.remove_islands(mask, 10, 4))
    assert (out[10:12, 10:12] == 3).all() and out[0, 29] == 0 and (out == 4).sum() == 0
    lone = np.full((9, 9), 3, np.uint8)
    lone[4, 4] = 4  # the class's box is this one pixel: its surroundings still count
    assert applied(lone, tools.remove_islands(lone, 5, 4))[4, 4] == 3


def test_remove_islands_connectivity_4_splits_diagonals():
    mask = np.zeros((10, 10), np.uint8)
    mask[2, 2] = mask[3, 3] = 1
    assert tools.remove_islands(mask, 2, 1) is None  # one piece of 2 px (8-connected)
    out = applied(mask, tools.remove_islands(mask, 2, 1, connectivity=4))
    assert out.sum() == 0


# ---------------------------------------------------------------------------- grow / shrink


def test_grow_and_shrink_by_one_pixel():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 1
    grown = applied(mask, tools.grow(mask, 1))
    assert (grown == 1).sum() == 100 + 4 * 10  # 4-neighbours
    assert (grown[9:21, 10:20] == 1).all() and grown[9, 9] == 0
    shrunk = applied(mask, tools.shrink(mask, 1))
    assert (shrunk == 1).sum() == 64 and (shrunk[11:19, 11:19] == 1).all()
    assert (applied(mask, tools.grow(mask, 1, pixels=3)) == 1).sum() > 140


def test_shrink_gives_the_lost_rim_to_the_class_around_it():
    """It went to background: glasses shrunk inside a face left a 1-px ring of background
    nobody painted (walk-through 6, #7), wrong labels the next round trains on."""
    mask = np.zeros((30, 40), np.uint8)
    mask[5:25, 5:20] = 3  # a face, with background to its left
    mask[10:20, 10:25] = 4  # glasses: inside the face on the left, on background on the right
    for pixels in (1, 3):
        out = applied(mask, tools.shrink(mask, 4, pixels))
        lost = (mask == 4) & (out != 4)
        assert lost.any()
        inside_face = lost[:, :19]  # nearest other label there is the face
        assert (out[:, :19][inside_face] == 3).all()
        assert (out[:, 21:][lost[:, 21:]] == 0).all()  # beyond the face: background
        assert ((out == 3) | (out == 4) | (out == 0)).all()


def test_grow_respects_protection_and_shrink_keeps_the_image_border():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:10, 5:10] = 1
    mask[5:10, 10] = 2
    out = applied(mask, tools.grow(mask, 1, overwrite={0, 1}))
    assert (out[5:10, 10] == 2).all() and (out == 1).sum() == 25 + 3 * 5
    edge = np.zeros((20, 20), np.uint8)
    edge[0:5, 0:5] = 1
    shrunk = applied(edge, tools.shrink(edge, 1))
    assert (shrunk[0:4, 0:4] == 1).all() and (shrunk == 1).sum() == 16
    assert tools.shrink(edge, 0) is None and tools.grow(edge, 3) is None
