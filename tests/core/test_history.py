"""Undo/redo of compact diffs (segapp.core.history)."""

from __future__ import annotations

import numpy as np
import pytest

from segapp.core.history import ATOM_OVERHEAD_BYTES, History


def edit(history: History, mask: np.ndarray, y: slice, x: slice, value) -> None:
    """One-step edit of mask[y, x] recorded with push."""
    old = mask[y, x].copy()
    mask[y, x] = value
    history.push(x.start, y.start, old, mask[y, x])


def test_push_undo_redo_restore_exact_pixels():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 4, (64, 80), dtype=np.uint8)
    states = [mask.copy()]
    h = History()
    for _ in range(6):
        y0, x0 = rng.integers(0, 50, 2)
        new = rng.integers(0, 4, (14, 30), dtype=np.uint8)
        edit(h, mask, slice(y0, y0 + 14), slice(x0, x0 + 30), new)
        states.append(mask.copy())
    for expected in reversed(states[:-1]):
        assert h.undo(mask) is not None
        assert np.array_equal(mask, expected)
    assert not h.can_undo and h.undo(mask) is None
    for expected in states[1:]:
        h.redo(mask)
        assert np.array_equal(mask, expected)
    assert not h.can_redo and h.redo(mask) is None


def test_push_reports_the_tight_rectangle_of_changed_pixels():
    mask = np.zeros((50, 50), np.uint8)
    new = mask.copy()
    new[10:12, 20:25] = 1
    h = History()
    assert h.push(0, 0, mask, new) == (20, 10, 5, 2)
    assert h.push(0, 0, mask, mask.copy()) is None  # nothing changed: no atom
    assert h.undo_count == 1


@pytest.mark.parametrize(
    "fraction, max_bytes_per_px",
    [(1.0, 1.0), (0.5, 0.52 + 1 / 8), (0.01, 0.05 + 0.01)],  # dense, bit map, indices
)
def test_each_storage_form_round_trips_and_is_compact(fraction, max_bytes_per_px):
    rng = np.random.default_rng(1)
    old = rng.integers(0, 3, (200, 300), dtype=np.uint8)
    new = old.copy()
    sel = rng.random(old.shape) < fraction
    sel[0, 0] = sel[-1, -1] = True  # the rectangle is the whole array
    new[sel] = old[sel] + 1
    mask = new.copy()
    h = History()
    assert h.push(0, 0, old, new) == (0, 0, 300, 200)
    assert h.nbytes <= ATOM_OVERHEAD_BYTES + max_bytes_per_px * old.size + 16
    h.undo(mask)
    assert np.array_equal(mask, old)
    h.redo(mask)
    assert np.array_equal(mask, new)


def test_a_group_is_one_atom_that_keeps_the_first_old_value():
    mask = np.zeros((40, 40), np.uint8)
    mask[0:5, 0:5] = 9
    before = mask.copy()
    h = History()
    h.begin()
    for y, x, v in [(0, 0, 1), (3, 3, 2), (6, 6, 3), (20, 30, 4)]:
        old = mask[y : y + 10, x : x + 10].copy()
        mask[y : y + 10, x : x + 10] = v
        h.extend(x, y, old, mask[y : y + 10, x : x + 10])
    after = mask.copy()
    assert h.pending and h.can_undo
    assert h.commit() == (0, 0, 40, 30)
    assert h.undo_count == 1 and not h.in_group
    h.undo(mask)
    assert np.array_equal(mask, before)
    h.redo(mask)
    assert np.array_equal(mask, after)


def test_an_empty_group_makes_no_atom_and_extend_needs_begin():
    h = History()
    h.begin()
    z = np.zeros((3, 3), np.uint8)
    h.extend(0, 0, z, z)
    assert h.commit() is None and h.undo_count == 0
    with pytest.raises(RuntimeError):
        h.extend(0, 0, z, z + 1)


def test_undo_during_an_open_group_commits_it_first():
    mask = np.zeros((10, 10), np.uint8)
    h = History()
    h.begin()
    old = mask[2:4, 2:4].copy()
    mask[2:4, 2:4] = 5
    h.extend(2, 2, old, mask[2:4, 2:4])
    assert h.undo(mask) == (2, 2, 2, 2)
    assert mask.sum() == 0 and h.can_redo


def test_redo_is_cleared_by_a_new_edit():
    mask = np.zeros((10, 10), np.uint8)
    h = History()
    edit(h, mask, slice(0, 2), slice(0, 2), 1)
    edit(h, mask, slice(5, 7), slice(5, 7), 2)
    h.undo(mask)
    assert h.can_redo
    edit(h, mask, slice(8, 9), slice(8, 9), 3)
    assert not h.can_redo and h.redo(mask) is None
    assert h.undo_count == 2


def test_byte_budget_drops_the_oldest_atoms_but_keeps_the_newest():
    mask = np.zeros((100, 100), np.uint8)
    atom = ATOM_OVERHEAD_BYTES + 100  # a 10x10 block changed entirely: dense, 1 byte/px
    h = History(max_bytes=3 * atom)
    for i in range(5):
        edit(h, mask, slice(10 * i, 10 * i + 10), slice(0, 10), i + 1)
    assert h.undo_count == 3 and h.nbytes == 3 * atom
    while h.can_undo:
        h.undo(mask)
    # the two oldest blocks could not be undone; the three newest were
    assert (mask[0:10, :10] == 1).all() and (mask[10:20, :10] == 2).all()
    assert mask[20:, :].sum() == 0
    while h.can_redo:
        h.redo(mask)
    h.max_bytes = atom // 2  # a smaller budget trims at once, but the newest atom stays
    assert h.undo_count == 1 and h.nbytes == atom
    h.undo(mask)
    assert mask[40:50, :10].sum() == 0 and (mask[30:40, :10] == 4).all()


def test_state_token_identifies_positions():
    mask = np.zeros((10, 10), np.uint8)
    h = History()
    assert h.state == 0
    edit(h, mask, slice(0, 2), slice(0, 2), 1)
    s1 = h.state
    edit(h, mask, slice(3, 4), slice(0, 2), 1)
    assert h.state != s1
    h.undo(mask)
    assert h.state == s1
    h.undo(mask)
    assert h.state == 0
    h.clear()
    assert h.nbytes == 0 and not h.can_undo and not h.can_redo
