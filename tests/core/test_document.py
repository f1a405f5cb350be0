"""MaskDocument: strokes, tools, undo/redo, callbacks, dirty flag (segapp.core.document)."""

from __future__ import annotations

import numpy as np
import pytest

from segapp.core.document import MaskDocument
from segapp.core.imageio import MaskSizeError, MaskValueError


def make_doc(h=100, w=120, **kw) -> MaskDocument:
    return MaskDocument(np.zeros((h, w, 3), np.uint8), **kw)


def diff_rect(a: np.ndarray, b: np.ndarray):
    ys, xs = np.nonzero(a != b)
    if ys.size == 0:
        return None
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def covers(rect, box) -> bool:
    x, y, w, h = rect
    return x <= box[0] and y <= box[1] and x + w >= box[2] and y + h >= box[3]


def stroke(doc, points, erase=False):
    doc.begin_stroke(*points[0], erase=erase)
    for p in points[1:]:
        doc.stroke_to(*p)
    return doc.end_stroke()


def test_a_new_document_is_clean_background():
    doc = make_doc()
    assert doc.shape == (100, 120) and doc.labels.dtype == np.uint8
    assert doc.labels.sum() == 0 and not doc.dirty and not doc.can_undo and not doc.can_redo
    labels = np.ones((100, 120), np.uint8)
    doc2 = MaskDocument(np.zeros((100, 120), np.uint16), labels)
    labels[:] = 5  # the document copied its labels
    assert (doc2.labels == 1).all()


def test_labels_are_read_only_for_widgets():
    doc = make_doc()
    with pytest.raises(ValueError):
        doc.labels[0, 0] = 1


def test_a_drag_is_one_undo_step_with_no_gaps():
    doc = make_doc()
    doc.active_class = 2
    doc.brush_radius = 3
    rect = stroke(doc, [(5, 5), (110, 90), (10, 90)])  # two fast moves
    after = doc.labels.copy()
    assert rect is not None and (after == 2).sum() > 2 * 100 * 6 * 0.8
    assert after[48, 57] == 2 and after[90, 60] == 2  # the middles of both moves
    assert doc.history.undo_count == 1 and doc.dirty
    assert doc.undo() == rect
    assert doc.labels.sum() == 0 and doc.can_redo
    doc.redo()
    assert np.array_equal(doc.labels, after)


def test_undo_redo_across_strokes_and_a_proposal_restore_exact_pixels():
    rng = np.random.default_rng(3)
    doc = make_doc()
    doc.brush_radius = 4
    states = [doc.labels.copy()]
    stroke(doc, [(10, 10), (60, 40)])
    states.append(doc.labels.copy())
    doc.set_labels(rng.integers(0, 3, doc.shape, dtype=np.uint8))  # a model proposal
    states.append(doc.labels.copy())
    doc.active_class = 1
    stroke(doc, [(100, 10), (20, 80)], erase=True)
    states.append(doc.labels.copy())
    doc.fill(0, 0)
    states.append(doc.labels.copy())
    assert doc.history.undo_count == 4
    for expected in reversed(states[:-1]):
        doc.undo()
        assert np.array_equal(doc.labels, expected)
    for expected in states[1:]:
        doc.redo()
        assert np.array_equal(doc.labels, expected)


def test_redo_is_cleared_by_a_new_edit():
    doc = make_doc()
    stroke(doc, [(10, 10)])
    stroke(doc, [(50, 50)])
    doc.undo()
    assert doc.can_redo
    stroke(doc, [(80, 80)])
    assert not doc.can_redo and doc.redo() is None


def test_callbacks_report_rectangles_covering_every_change():
    doc = make_doc()
    doc.brush_radius = 6
    seen = []
    unsubscribe = doc.on_change(seen.append)
    before = doc.labels.copy()

    def check(action):
        nonlocal before
        seen.clear()
        result = action()
        box = diff_rect(before, doc.labels)
        if box is None:
            assert seen == [] and result is None
        else:
            assert all(r is not None for r in seen)
            xs = [r[0] for r in seen] + [r[0] + r[2] for r in seen]
            ys = [r[1] for r in seen] + [r[1] + r[3] for r in seen]
            union = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            assert covers(union, box)
            assert union[2] * union[3] < doc.shape[0] * doc.shape[1] or box == (0, 0, 120, 100)
        before = doc.labels.copy()

    check(lambda: stroke(doc, [(20, 20), (40, 25), (60, 60)]))
    check(lambda: doc.polygon([(70, 10), (110, 10), (90, 40)]))
    check(lambda: doc.fill(100, 90))
    check(lambda: doc.undo())
    check(lambda: doc.redo())
    check(lambda: doc.undo())
    check(lambda: doc.fill(20, 20))  # same class: nothing changes, no callback
    check(lambda: doc.set_labels(np.eye(100, 120, dtype=np.uint8)))
    unsubscribe()
    seen.clear()
    stroke(doc, [(5, 5)])
    assert seen == []


def test_loading_labels_reports_none_clears_history_and_is_clean():
    doc = make_doc()
    stroke(doc, [(10, 10)])
    seen = []
    doc.on_change(seen.append)
    doc.set_labels(np.full(doc.shape, 3, np.uint8), as_proposal=False)
    assert seen == [None] and (doc.labels == 3).all()
    assert not doc.dirty and not doc.can_undo


def test_set_labels_checks_size_and_values():
    doc = make_doc()
    with pytest.raises(MaskSizeError):
        doc.set_labels(np.zeros((120, 100), np.uint8))
    with pytest.raises(MaskSizeError):
        MaskDocument(np.zeros((10, 10), np.uint8), np.zeros((10, 11), np.uint8))
    with pytest.raises(MaskValueError):
        doc.set_labels(np.full(doc.shape, 300, np.int32))
    assert doc.set_labels(np.ones(doc.shape, bool)) == (0, 0, 120, 100)
    assert doc.set_labels(np.ones(doc.shape, np.int64)) is None  # no change: no step
    assert doc.history.undo_count == 1


def test_dirty_flag_follows_saves_and_undo():
    doc = make_doc()
    stroke(doc, [(10, 10)])
    assert doc.dirty
    doc.mark_saved()
    assert not doc.dirty
    doc.begin_stroke(50, 50)
    assert doc.dirty  # an open stroke with changes
    doc.end_stroke()
    doc.undo()
    assert not doc.dirty  # back at the saved state
    doc.undo()
    assert doc.dirty
    doc.redo()
    assert not doc.dirty
    doc.fill(90, 90, erase=True)  # background over background: nothing changes
    assert not doc.dirty


def test_protect_other_classes_for_brush_eraser_and_fill():
    doc = make_doc()
    doc.set_labels(np.where(np.arange(120)[None, :] >= 60, 2, 0).repeat(100, 0).astype(np.uint8))
    doc.active_class = 1
    doc.brush_radius = 10
    doc.protect_others = True
    stroke(doc, [(0, 50), (119, 50)])
    assert (doc.labels[:, 60:] == 2).all() and (doc.labels[45:56, :60] == 1).all()
    stroke(doc, [(0, 50), (119, 50)], erase=True)  # erases class 1 only
    assert (doc.labels[:, 60:] == 2).all() and (doc.labels == 1).sum() == 0
    assert doc.fill(100, 50) is None  # class 2 is protected
    assert doc.polygon([(0, 0), (119, 0), (119, 99), (0, 99)]) is not None
    assert (doc.labels[:, 60:] == 2).all() and (doc.labels[:, :60] == 1).all()
    doc.protect_others = False
    doc.fill(100, 50)
    assert (doc.labels == 1).all()


def test_region_tools_are_undoable_steps():
    doc = make_doc()
    doc.active_class = 1
    labels = np.zeros(doc.shape, np.uint8)
    labels[10:30, 10:30] = 1
    labels[15:25, 15:25] = 0  # a hole
    labels[50, 50] = 1  # an island
    doc.set_labels(labels, as_proposal=False)
    assert doc.fill_holes() == (15, 15, 10, 10)
    assert (doc.labels[10:30, 10:30] == 1).all()
    assert doc.remove_islands(5) == (50, 50, 1, 1)
    assert (doc.labels == 1).sum() == 400
    doc.grow()
    assert (doc.labels == 1).sum() == 400 + 4 * 20
    doc.shrink()
    doc.shrink()
    assert (doc.labels == 1).sum() == 18 * 18
    for _ in range(5):
        doc.undo()
    assert np.array_equal(doc.labels, labels)
    doc.active_class = 0
    assert doc.fill_holes() is None and doc.grow() is None and doc.shrink() is None


def test_label_at_and_parameter_checks():
    doc = make_doc()
    doc.set_labels(np.full(doc.shape, 4, np.uint8))
    assert doc.label_at(3.2, 4.7) == 4 and doc.label_at(-1, 0) is None
    with pytest.raises(ValueError):
        doc.active_class = 256
    with pytest.raises(ValueError):
        doc.brush_radius = -1
    with pytest.raises(ValueError):
        MaskDocument(np.zeros((10, 10, 4), np.uint8))


def test_a_stroke_on_a_huge_mask_touches_only_the_brush_region():
    size = 8192
    doc = MaskDocument(np.zeros((size, size), np.uint8))
    doc.brush_radius = 10
    rects = []
    doc.on_change(rects.append)
    points = [(4000 + 7 * i, 3000 + 3 * i) for i in range(50)]  # a 350 px drag
    rect = stroke(doc, points)
    assert all(r[2] <= 2 * 10 + 1 + 7 and r[3] <= 2 * 10 + 1 + 3 for r in rects)
    assert rect == (3990, 2990, 350 - 7 + 21, 150 - 3 + 21)
    painted = int((doc.labels[2990:3200, 3990:4400] == 1).sum())
    # compact diff: 1 value byte + at most 4 index bytes (or 1/8 bit-map byte) per pixel
    assert doc.history.nbytes < 5 * painted + 1000
    assert doc.history.nbytes < rect[2] * rect[3] * 2
    assert doc.undo() == rect
    assert doc.labels[2990:3200, 3990:4400].sum() == 0
