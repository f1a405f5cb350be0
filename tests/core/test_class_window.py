"""tools.class_window / MaskDocument.set_class_window: one class redrawn inside a window."""

from __future__ import annotations

import numpy as np
import pytest

from segapp.core import tools
from segapp.core.document import MaskDocument
from segapp.core.tools import Patch


def _mask() -> np.ndarray:
    m = np.zeros((20, 30), np.uint8)
    m[2:8, 2:8] = 1  # the active class
    m[10:16, 10:16] = 2  # another class
    return m


def test_the_class_follows_the_window_and_other_classes_are_kept_when_protected():
    m = _mask()
    on = np.zeros((12, 12), np.uint8)
    on[6:12, 6:12] = 1  # (x, y) 6..17: over the other class and beside the old class
    p = tools.class_window(m, 6, 6, on, 1, overwrite={0, 1})
    new = m.copy()
    p.apply(new)
    assert p.rect == (6, 6, 12, 12)  # nothing outside the window
    assert (new[2:8, 2:6] == 1).all() and (new[6:8, 6:8] == 0).all()  # off inside the window
    assert (new[10:16, 10:16] == 2).all() and (new[12:18, 16:18] == 1).all()
    free = tools.class_window(m, 6, 6, on, 1)  # unprotected: paints over "2", never erases it
    assert (m[free.slices] == 2).sum() > 0 and (free.values[6:10, 6:10] == 1).all()
    off = tools.class_window(m, 10, 10, np.zeros((6, 6), np.uint8), 1)
    assert off is None  # class 2 is never turned off, and there was no class 1 there


def test_window_is_clipped_and_the_document_makes_one_undo_step():
    doc = MaskDocument(np.zeros((20, 30), np.uint8), _mask())
    doc.active_class, doc.protect_others = 1, True
    on = np.ones((10, 10), np.uint8)
    assert doc.set_class_window(25, 15, on) == (25, 15, 5, 5)
    assert doc.labels[19, 29] == 1 and doc.history.undo_count == 1
    assert doc.set_class_window(25, 15, on) is None  # no change: no step
    doc.undo()
    assert np.array_equal(doc.labels, _mask())
    assert doc.set_window(Patch(0, 0, np.zeros((3, 3), np.uint8))) == (2, 2, 1, 1)
    with pytest.raises(ValueError, match="not inside"):
        doc.set_window(Patch(28, 0, np.zeros((3, 3), np.uint8)))
