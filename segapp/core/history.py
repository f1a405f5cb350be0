"""Undo/redo of label-mask edits as compact diffs, with a memory budget in bytes.

An *atom* is one undoable step: a rectangle of the mask, which of its pixels changed, and
for those pixels the values that are not in the mask right now (before an undo: the old
values; after it: the new ones). Undo and redo swap those values with the mask's, so an
atom stores one value per changed pixel, never a copy of the image. Where the changed
pixels are is stored in the cheapest of three forms: nothing (every pixel of the rectangle
changed), a packed bit map of the rectangle (1 bit per pixel), or the flat indices of the
changed pixels (4 bytes each, when under 1/32 of the rectangle changed). This is napari's
``_MaskedPaintAtom`` idea; full copies of the mask (labelme) are what it avoids.

Recording::

    history.begin()                    # mouse press: open a group (one mouse drag)
    old = patch.apply(mask)            # each mouse move: apply a tools.Patch ...
    history.extend(patch.x, patch.y, old, patch.values)   # ... and record its diff
    history.commit()                   # mouse release: the group becomes one atom

    history.push(0, 0, mask_before, proposal)   # a one-step edit, e.g. a model proposal

Within a group, a pixel changed several times keeps its first old value. Recording a
group costs the changed pixels only, so a stroke's cost does not depend on the image size.
A new atom clears the redo stack. When the atoms' bytes exceed ``max_bytes``, the oldest
are dropped (the newest atom is always kept, so the last edit can be undone).

``undo(mask)``/``redo(mask)`` change ``mask`` in place and return the changed rectangle
``(x, y, w, h)``. They assume the mask is only edited through this history (the
:class:`~segapp.core.document.MaskDocument` guarantees that).
"""

from __future__ import annotations

import logging
from collections import deque
from itertools import count

import numpy as np

log = logging.getLogger(__name__)

Rect = tuple[int, int, int, int]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
ATOM_OVERHEAD_BYTES = 200  # Python objects around an atom's arrays, counted in the budget

_DENSE, _BITS, _INDEX = "dense", "bits", "index"


class _Atom:
    """One undoable step; ``values`` are the values not currently in the mask."""

    __slots__ = ("x", "y", "w", "h", "kind", "where", "values", "id")

    def __init__(
        self,
        x: int,
        y: int,
        w: int,
        h: int,
        kind: str,
        where: np.ndarray | None,
        values: np.ndarray,
        atom_id: int,
    ) -> None:
        self.x, self.y, self.w, self.h = x, y, w, h
        self.kind = kind
        self.where = where
        self.values = values
        self.id = atom_id

    @property
    def rect(self) -> Rect:
        return (self.x, self.y, self.w, self.h)

    @property
    def nbytes(self) -> int:
        where = 0 if self.where is None else self.where.nbytes
        return ATOM_OVERHEAD_BYTES + where + self.values.nbytes

    def swap(self, mask: np.ndarray) -> Rect:
        """Exchange the stored values with the mask's; return the rectangle."""
        view = mask[self.y : self.y + self.h, self.x : self.x + self.w]
        if self.kind == _DENSE:
            current = view.copy()
            view[...] = self.values
        elif self.kind == _BITS:
            sel = np.unpackbits(self.where, count=self.w * self.h).view(bool)
            sel = sel.reshape(self.h, self.w)
            current = view[sel]
            view[sel] = self.values
        else:
            rows, cols = np.divmod(self.where, self.w)
            current = view[rows, cols]
            view[rows, cols] = self.values
        self.values = current
        return self.rect


def _atom_from_changed(
    x: int, y: int, changed: np.ndarray, old: np.ndarray, atom_id: int
) -> _Atom | None:
    """Atom from a bool map of changed pixels and the old values of a rectangle at (x, y)."""
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(changed.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    changed = changed[r0:r1, c0:c1]
    old = old[r0:r1, c0:c1]
    h, w = changed.shape
    n = int(np.count_nonzero(changed))
    if n == h * w:
        kind, where, values = _DENSE, None, np.ascontiguousarray(old).copy()
    elif n * 32 <= h * w:
        kind, where, values = (
            _INDEX,
            np.flatnonzero(changed).astype(_index_dtype(h * w)),
            old[changed],
        )
    else:
        kind, where, values = _BITS, np.packbits(changed, axis=None), old[changed]
    return _Atom(x + c0, y + r0, w, h, kind, where, values, atom_id)


def _atom_from_pixels(gy: np.ndarray, gx: np.ndarray, old: np.ndarray, atom_id: int) -> _Atom:
    """Atom from changed pixels given by row-major sorted, unique coordinates."""
    y0, y1 = int(gy[0]), int(gy[-1]) + 1
    x0, x1 = int(gx.min()), int(gx.max()) + 1
    h, w = y1 - y0, x1 - x0
    n = gy.size
    flat = (gy - y0).astype(np.int64) * w + (gx - x0)
    if n == h * w:
        return _Atom(x0, y0, w, h, _DENSE, None, old.reshape(h, w).copy(), atom_id)
    if n * 32 <= h * w:
        return _Atom(x0, y0, w, h, _INDEX, flat.astype(_index_dtype(h * w)), old, atom_id)
    sel = np.zeros(h * w, dtype=bool)
    sel[flat] = True
    return _Atom(x0, y0, w, h, _BITS, np.packbits(sel), old, atom_id)


def _index_dtype(size: int) -> type:
    return np.uint32 if size <= 2**32 else np.int64


class History:
    """Undo/redo stacks of compact mask diffs, bounded by ``max_bytes``."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = int(max_bytes)
        self._undo: deque[_Atom] = deque()
        self._redo: list[_Atom] = []
        self._group: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._group_bytes = 0
        self._bytes = 0
        self._ids = count(1)

    # ------------------------------------------------------------------ state

    @property
    def max_bytes(self) -> int:
        """The memory budget; setting it drops the oldest atoms if needed."""
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self._max_bytes = int(value)
        self._trim()

    @property
    def nbytes(self) -> int:
        """Bytes held by all atoms (undo and redo) and by an open group."""
        return self._bytes + self._group_bytes

    @property
    def can_undo(self) -> bool:
        return bool(self._undo) or self.pending

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and not self.pending

    @property
    def undo_count(self) -> int:
        return len(self._undo)

    @property
    def redo_count(self) -> int:
        return len(self._redo)

    @property
    def in_group(self) -> bool:
        """True between :meth:`begin` and :meth:`commit`."""
        return self._group is not None

    @property
    def pending(self) -> bool:
        """True when an open group holds changes not yet committed."""
        return bool(self._group)

    @property
    def state(self) -> int:
        """A token for the mask's state: equal tokens mean equal masks (0 = the start).

        Keep it at save time to tell whether the mask has changed since (dirty flag).
        """
        return self._undo[-1].id if self._undo else 0

    def clear(self) -> None:
        """Forget everything (e.g. after loading another mask)."""
        self._undo.clear()
        self._redo.clear()
        self._group = None
        self._group_bytes = 0
        self._bytes = 0

    # ------------------------------------------------------------------ recording

    def begin(self) -> None:
        """Open a group: diffs given to :meth:`extend` until :meth:`commit` are one atom.

        An open group is committed first.
        """
        if self._group is not None:
            self.commit()
        self._group = []
        self._group_bytes = 0

    def extend(self, x: int, y: int, old: np.ndarray, new: np.ndarray) -> None:
        """Record that the rectangle at (x, y) went from ``old`` to ``new`` (same shapes).

        Needs an open group. Costs the rectangle's size; keeps only the changed pixels.
        """
        if self._group is None:
            raise RuntimeError("History.extend() needs History.begin() first")
        if old.shape != new.shape:
            raise ValueError(f"old {old.shape} and new {new.shape} differ in shape")
        changed = old != new
        ys, xs = np.nonzero(changed)
        if ys.size == 0:
            return
        piece = ((ys + y).astype(np.int32), (xs + x).astype(np.int32), old[changed])
        self._group.append(piece)
        self._group_bytes += sum(a.nbytes for a in piece)

    def commit(self) -> Rect | None:
        """Close the open group into one atom; return its rectangle (None: nothing changed)."""
        group, self._group, self._group_bytes = self._group, None, 0
        if not group:
            return None
        gy = np.concatenate([p[0] for p in group])
        gx = np.concatenate([p[1] for p in group])
        old = np.concatenate([p[2] for p in group])
        if len(group) > 1:
            # first occurrence of each pixel = its value before the group; sorted row-major
            key = (gy.astype(np.int64) << 32) | gx.astype(np.int64)
            _, first = np.unique(key, return_index=True)
            gy, gx, old = gy[first], gx[first], old[first]
        atom = _atom_from_pixels(gy, gx, old, next(self._ids))
        self._add(atom)
        return atom.rect

    def push(self, x: int, y: int, old: np.ndarray, new: np.ndarray) -> Rect | None:
        """Record a one-step edit (a fill, a model proposal ...) as one atom.

        ``old``/``new`` are the rectangle at (x, y) before and after; they may be the
        whole mask. Returns the rectangle of the changed pixels (None: nothing changed).
        An open group is committed first.
        """
        if self._group is not None:
            self.commit()
        if old.shape != new.shape:
            raise ValueError(f"old {old.shape} and new {new.shape} differ in shape")
        atom = _atom_from_changed(int(x), int(y), old != new, old, next(self._ids))
        if atom is None:
            return None
        self._add(atom)
        return atom.rect

    def _add(self, atom: _Atom) -> None:
        for a in self._redo:
            self._bytes -= a.nbytes
        self._redo.clear()
        self._undo.append(atom)
        self._bytes += atom.nbytes
        self._trim()

    def _trim(self) -> None:
        while self._bytes > self._max_bytes and len(self._undo) > 1:
            dropped = self._undo.popleft()
            self._bytes -= dropped.nbytes
            log.debug(
                "history over %d bytes: dropped an atom of %d bytes",
                self._max_bytes,
                dropped.nbytes,
            )
        while self._bytes > self._max_bytes and self._redo:
            self._bytes -= self._redo.pop(0).nbytes

    # ------------------------------------------------------------------ undo / redo

    def undo(self, mask: np.ndarray) -> Rect | None:
        """Revert the last atom in ``mask``; return the changed rectangle (None: nothing to undo).

        An open group is committed first, so undo during a drag undoes the drag so far.
        """
        if self._group is not None:
            self.commit()
        if not self._undo:
            return None
        atom = self._undo.pop()
        rect = atom.swap(mask)
        self._redo.append(atom)
        return rect

    def redo(self, mask: np.ndarray) -> Rect | None:
        """Re-apply the last undone atom in ``mask``; return the changed rectangle."""
        if self._group is not None:
            self.commit()
        if not self._redo:
            return None
        atom = self._redo.pop()
        rect = atom.swap(mask)
        self._undo.append(atom)
        return rect
