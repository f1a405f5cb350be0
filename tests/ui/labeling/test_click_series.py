"""The Click tool in the window: dots, requests, undo, Esc, other classes, coalescing.

The GUI logic runs against a fake engine whose answers the test gives (when and what);
the last test goes through the real engine process (no model: GrabCut).
"""

from __future__ import annotations

import numpy as np
import pytest
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import QPointF, Qt
from qt_helpers import drag, key

from segapp.ui.labeling import click_series
from segapp.ui.labeling.propose_worker import ProposeEngine
from segapp.ui.labeling.refine import RefineRequest, RefineResult, result_patch

make_window = qt_helpers.make_window  # the window fixture

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
NOMOD, SHIFT = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier


class FakeEngine(ProposeEngine):
    """Records refine requests; ``answer`` replies: the previous mask with a 7x7 square set
    (positive) or cleared (negative) at each click, inside ``window`` (default: all)."""

    def __init__(self) -> None:
        super().__init__(device="cpu")
        self.requests: list[RefineRequest] = []
        self.ready = True

    def start(self) -> None:
        pass

    def shutdown(self) -> None:
        self._closed = True

    def refine(self, req: RefineRequest) -> None:
        self.requests.append(req)

    def answer(self, req: RefineRequest | None = None, window=None, name="fake refiner") -> None:
        req = req or self.requests[-1]
        on = (req.labels if req.base is None else req.base) == req.active
        for c in req.clicks:
            on[max(c.y - 3, 0) : c.y + 4, max(c.x - 3, 0) : c.x + 4] = c.positive
        h, w = on.shape
        x, y, ww, wh = window or (0, 0, w, h)
        mask = on[y : y + wh, x : x + ww].astype(np.uint8)
        patch = result_patch(req, (x, y, ww, wh), mask)  # as the worker makes it
        self.refineReady.emit(RefineResult(req.seq, (x, y, ww, wh), mask, "model", name, 0, patch))


@pytest.fixture
def win(make_window, tmp_path):
    w = make_window(make_dataset(tmp_path / "d", n=2, masks=0), engine=FakeEngine())
    w.set_tool("click")
    return w


def click(qtbot, w, x, y, button=LEFT, modifier=NOMOD) -> None:
    pos = w.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
    qtbot.mouseClick(w.canvas.viewport(), button, modifier, pos)


def dots(w) -> list[tuple[int, int, bool]]:
    shown = [(int(c.x), int(c.y), c.positive) for c in w.canvas.clicks.clicks]
    assert shown == [(int(c.x), int(c.y), c.positive) for c in w.clicks.clicks]
    return shown


def test_key_c_the_toolbar_and_the_tools_menu(make_window, qtbot, tmp_path):
    w = make_window(make_dataset(tmp_path / "d", n=1, masks=0), engine=FakeEngine())
    key(qtbot, w, Qt.Key.Key_C)
    assert w.canvas.tool() == "click"
    action = w.actions_by_name["tool_click"]
    assert action.isChecked() and action in w.toolbar.actions()
    tools = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Tools")
    assert action in tools.actions()
    key(qtbot, w, Qt.Key.Key_B)
    assert w.canvas.tool() == "brush"


def test_clicks_make_dots_of_their_sign_and_each_answer_is_one_undo_step(win, qtbot):
    engine, doc = win.session.engine, win.session.doc
    click(qtbot, win, 20, 20)
    assert dots(win) == [(20, 20, True)] and len(engine.requests) == 1
    assert not engine.requests[0].labels.any()  # it started from the empty mask
    engine.answer()
    assert doc.labels[20, 20] == 1 and doc.history.undo_count == 1
    assert "fake refiner" in win.clicks.label.text() and win.clicks.label.isVisible()
    click(qtbot, win, 23, 23, RIGHT)  # into the corner of the first answer's square
    click(qtbot, win, 45, 10, LEFT, SHIFT)  # while the second is in flight: it waits
    assert dots(win) == [(20, 20, True), (23, 23, False), (45, 10, False)]
    assert len(engine.requests) == 2
    engine.answer()  # stale: the dots changed meanwhile; the latest go now
    assert len(engine.requests) == 3 and doc.history.undo_count == 1
    engine.answer(window=(15, 15, 15, 15))  # applied inside its window only
    assert doc.history.undo_count == 2
    assert doc.labels[18, 18] == 1 and doc.labels[22, 22] == 0
    said = win.clicks.label.text()  # the count and the keys first: a narrow bar cuts the end
    assert said.startswith("Click: 3 dots — Enter keeps, Esc restores — fake refiner")
    win.session.undo()
    assert dots(win) == [(20, 20, True)] and doc.labels[22, 22] == 1
    assert win.clicks.label.text().startswith("Click: 1 dot — ")  # not still "3" (walk 8)
    win.session.undo()
    assert dots(win) == [] and not doc.labels.any()
    win.session.redo()
    assert dots(win) == [(20, 20, True)] and doc.labels[20, 20] == 1


def test_a_dot_clicked_is_removed_and_the_mask_redrawn_without_it(win, qtbot):
    engine, doc = win.session.engine, win.session.doc
    click(qtbot, win, 15, 15)
    engine.answer()
    click(qtbot, win, 45, 45)
    engine.answer()
    assert doc.labels[15, 15] == 1 and doc.labels[45, 45] == 1
    click(qtbot, win, 15, 15, RIGHT)  # on the first dot: it goes (either button)
    assert dots(win) == [(45, 45, True)]
    req = engine.requests[-1]
    assert [(c.x, c.y) for c in req.clicks] == [(45, 45)] and not req.base.any()
    engine.answer(window=(40, 40, 10, 10))  # the window lies around the dot that remains
    assert doc.labels[15, 15] == 0 and doc.labels[45, 45] == 1
    assert doc.history.undo_count == 3
    click(qtbot, win, 45, 45)  # the last dot: the mask the series started from
    assert dots(win) == [] and not doc.labels.any() and len(engine.requests) == 3


def test_enter_accepts_and_esc_restores_the_mask_before_the_first_click(win, qtbot, monkeypatch):
    engine, doc = win.session.engine, win.session.doc
    monkeypatch.setattr(click_series, "NOTE_MS", 50)
    win.set_tool("brush")
    win.canvas.set_brush_radius(2)
    drag(qtbot, win.canvas, [(5, 50), (20, 50)])
    before = doc.labels.copy()
    win.set_tool("click")
    click(qtbot, win, 30, 30)
    engine.answer()
    win.set_tool("brush")  # painting between clicks keeps the series and its dots
    drag(qtbot, win.canvas, [(50, 5), (60, 5)])
    assert dots(win) == [(30, 30, True)]
    win.set_tool("click")
    click(qtbot, win, 50, 20)
    assert engine.requests[-1].labels[5, 55] == 1  # the painted mask is the next prev
    engine.answer()
    steps = doc.history.undo_count
    key(qtbot, win, Qt.Key.Key_Escape)
    assert np.array_equal(doc.labels, before) and dots(win) == []
    assert doc.history.undo_count == steps + 1  # Esc is one undo step
    # said in the tool's own label, not beside it (walk 9: two cut-off texts side by side)
    assert win.clicks.label.text().startswith("Click: the mask is back as it was")
    assert "mask is back" not in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: win.clicks.label.full_text() == click_series.HINT, timeout=2000)
    win.session.undo()
    assert doc.labels[30, 30] == 1 and doc.labels[20, 50] == 1
    click(qtbot, win, 10, 10)
    engine.answer()
    key(qtbot, win, Qt.Key.Key_Return)
    assert dots(win) == [] and doc.labels[10, 10] == 1
    key(qtbot, win, Qt.Key.Key_Escape)  # nothing to cancel after Enter
    assert doc.labels[10, 10] == 1


def test_enter_while_a_request_runs_keeps_its_answer(win, qtbot):
    engine, doc = win.session.engine, win.session.doc
    click(qtbot, win, 20, 20)
    key(qtbot, win, Qt.Key.Key_Return)
    assert dots(win) == [(20, 20, True)]  # until the answer is in
    engine.answer()
    assert dots(win) == [] and doc.labels[20, 20] == 1 and not win.clicks.active


@pytest.mark.parametrize("protect", [True, False])
def test_other_classes_are_untouched_with_protect_and_painted_over_without(
    make_window, qtbot, tmp_path, protect
):
    folder = make_dataset(tmp_path / "p", n=1, masks=0) / "images"
    w = make_window(engine=FakeEngine())
    assert w.session.new_project(folder, ["background", "cell", "nucleus"])
    doc, engine = w.session.doc, w.session.engine
    w.pick_class(2)
    w.canvas.set_brush_radius(4)
    drag(qtbot, w.canvas, [(30, 30), (34, 30)])  # a nucleus
    nucleus = doc.labels == 2
    w.pick_class(1)
    w.class_panel.protect.setChecked(protect)
    w.set_tool("click")
    click(qtbot, w, 31, 30)  # inside the nucleus: the answer covers it with "cell"
    engine.answer()
    square = np.zeros_like(nucleus)
    square[27:34, 28:35] = True  # the answer's "cell"
    assert (doc.labels[nucleus & square] == (2 if protect else 1)).all()
    assert (doc.labels[nucleus & ~square] == 2).all() and (doc.labels[square & ~nucleus] == 1).all()
    click(qtbot, w, 31, 30, RIGHT)  # the dot goes: "cell" is redrawn from the start
    click(qtbot, w, 10, 10, RIGHT)  # a negative click: nothing of "cell" there
    engine.answer()
    if protect:
        assert np.array_equal(doc.labels == 2, nucleus)  # never cleared either
    assert w.session.visit_effort.clicks == 3  # two clicks and a dot removed


def test_real_engine_without_a_model_refines_with_grabcut(make_window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "d", n=1, height=96, width=96, masks=0)
    w = make_window(data)
    qtbot.waitUntil(lambda: w.session.engine.ready, timeout=60_000)
    image = w.session.doc.image
    ys, xs = np.nonzero(image[..., 0] > 150)  # a bright disc of make_blob_pair
    cy, cx = int(np.median(ys)), int(np.median(xs))
    w.set_tool("click")
    with qtbot.waitSignal(w.clicks.refined, timeout=60_000) as got:
        click(qtbot, w, cx, cy)
    assert got.args[0].refiner == "grabcut"
    assert "GrabCut" in w.clicks.label.text()
    labels = w.session.doc.labels
    assert labels[cy, cx] == 1 and labels.sum() > 50
    worker = w.session.engine._worker
    assert len(worker._image_keys) == 1  # the image went once; the next click sends none
    with qtbot.waitSignal(w.clicks.refined, timeout=60_000):
        click(qtbot, w, 2, 2, RIGHT)
    assert w.session.doc.labels[2, 2] == 0 and labels[cy, cx] == 1 and len(dots(w)) == 2
