"""Pixel-level tests of the mask clean-up (segapp.core.cleanup)."""

from __future__ import annotations

import numpy as np

from segapp.core import cleanup, tools


def applied(mask: np.ndarray, patch: tools.Patch | None) -> np.ndarray:
    out = mask.copy()
    if patch is not None:
        patch.apply(out)
    return out


def ring(mask, y0, x0, size, value):
    mask[y0 : y0 + size, x0 : x0 + size] = value
    mask[y0 + 1 : y0 + size - 1, x0 + 1 : x0 + size - 1] = 0


def test_fill_holes_fills_enclosed_background_only():
    mask = np.zeros((60, 60), np.uint8)
    ring(mask, 10, 10, 20, 1)  # hole of 18x18
    mask[15:18, 15:18] = 2  # another class inside the hole: kept
    mask[0:10, 40:50] = 1
    mask[0:5, 42:48] = 0  # a "hole" open to the image border: not a hole
    patch = cleanup.fill_holes(mask, 1)
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
    out = applied(mask, cleanup.fill_holes(mask, 1))
    assert (out[6:12, 6:12] == 1).all()


def test_fill_holes_all_classes_innermost_first():
    mask = np.zeros((50, 50), np.uint8)
    ring(mask, 5, 5, 40, 1)
    ring(mask, 15, 15, 20, 2)
    out = applied(mask, cleanup.fill_holes(mask))
    assert (out[16:34, 16:34] == 2).all()  # inside the inner ring: class 2
    assert (out[6:15, 6:44] == 1).all()  # between the rings: class 1
    assert cleanup.fill_holes(out) is None
    assert cleanup.fill_holes(np.zeros((5, 5), np.uint8), 1) is None


# ---------------------------------------------------------------------------- islands


def test_remove_islands_removes_small_components_of_the_class_only():
    mask = np.zeros((40, 40), np.uint8)
    mask[1:3, 1:3] = 1  # 4 px
    mask[10:20, 10:20] = 1  # 100 px
    mask[30:32, 30:32] = 2  # 4 px of another class
    mask[5, 5] = 1
    mask[6, 6] = 1  # 2 px, 8-connected
    out = applied(mask, cleanup.remove_islands(mask, 10, 1))
    assert (out[10:20, 10:20] == 1).all() and (out == 1).sum() == 100
    assert (out[30:32, 30:32] == 2).all()
    out_all = applied(mask, cleanup.remove_islands(mask, 10))
    assert (out_all == 2).sum() == 0 and (out_all == 1).sum() == 100
    assert cleanup.remove_islands(out_all, 10) is None


def test_a_removed_island_takes_the_class_around_it():
    """A speck of one class inside another became a hole of background (walk-through 6)."""
    mask = np.zeros((30, 30), np.uint8)
    mask[5:25, 5:25] = 3  # a face
    mask[10:12, 10:12] = 4  # a speck of glasses inside it
    mask[0, 29] = 4  # one at the image's corner, on background
    out = applied(mask, cleanup.remove_islands(mask, 10, 4))
    assert (out[10:12, 10:12] == 3).all() and out[0, 29] == 0 and (out == 4).sum() == 0
    lone = np.full((9, 9), 3, np.uint8)
    lone[4, 4] = 4  # the class's box is this one pixel: its surroundings still count
    assert applied(lone, cleanup.remove_islands(lone, 5, 4))[4, 4] == 3


def test_remove_islands_connectivity_4_splits_diagonals():
    mask = np.zeros((10, 10), np.uint8)
    mask[2, 2] = mask[3, 3] = 1
    assert cleanup.remove_islands(mask, 2, 1) is None  # one piece of 2 px (8-connected)
    out = applied(mask, cleanup.remove_islands(mask, 2, 1, connectivity=4))
    assert out.sum() == 0


# ---------------------------------------------------------------------------- grow / shrink


def test_grow_and_shrink_by_one_pixel():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 1
    grown = applied(mask, cleanup.grow(mask, 1))
    assert (grown == 1).sum() == 100 + 4 * 10  # 4-neighbours
    assert (grown[9:21, 10:20] == 1).all() and grown[9, 9] == 0
    shrunk = applied(mask, cleanup.shrink(mask, 1))
    assert (shrunk == 1).sum() == 64 and (shrunk[11:19, 11:19] == 1).all()
    assert (applied(mask, cleanup.grow(mask, 1, pixels=3)) == 1).sum() > 140


def test_shrink_gives_the_lost_rim_to_the_class_around_it():
    """It went to background: glasses shrunk inside a face left a 1-px ring of background
    nobody painted (walk-through 6, #7), wrong labels the next round trains on."""
    mask = np.zeros((30, 40), np.uint8)
    mask[5:25, 5:20] = 3  # a face, with background to its left
    mask[10:20, 10:25] = 4  # glasses: inside the face on the left, on background on the right
    for pixels in (1, 3):
        out = applied(mask, cleanup.shrink(mask, 4, pixels))
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
    out = applied(mask, cleanup.grow(mask, 1, overwrite={0, 1}))
    assert (out[5:10, 10] == 2).all() and (out == 1).sum() == 25 + 3 * 5
    edge = np.zeros((20, 20), np.uint8)
    edge[0:5, 0:5] = 1
    shrunk = applied(edge, cleanup.shrink(edge, 1))
    assert (shrunk[0:4, 0:4] == 1).all() and (shrunk == 1).sum() == 16
    assert cleanup.shrink(edge, 0) is None and cleanup.grow(edge, 3) is None
