"""The canvas's Click tool: which clicks it reports, and the dots it draws (ui/canvas/)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from segapp.core.clicks import Click
from segapp.core.document import MaskDocument
from segapp.ui.canvas.canvas import Canvas

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
NOMOD, SHIFT = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def canvas(qtbot) -> Canvas:
    c = Canvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    c.show()
    qtbot.waitExposed(c)
    c.set_document(MaskDocument(np.full((60, 80, 3), 100, np.uint8)))
    c.set_tool("click")
    return c


def at(canvas: Canvas, x: float, y: float) -> QPoint:
    return canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def test_left_right_and_shift_clicks_are_positive_and_negative(qtbot, canvas):
    got = []
    canvas.clicks.placed.connect(lambda x, y, positive: got.append((x, y, positive)))
    vp = canvas.viewport()
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 10, 20))
    qtbot.mouseClick(vp, RIGHT, NOMOD, at(canvas, 30, 40))
    qtbot.mouseClick(vp, LEFT, SHIFT, at(canvas, 50, 5))
    assert got == [(10, 20, True), (30, 40, False), (50, 5, False)]
    assert canvas.document().labels.sum() == 0  # the tool itself never paints


def test_a_click_on_a_dot_removes_it_and_outside_the_image_does_nothing(qtbot, canvas):
    placed, removed = [], []
    canvas.clicks.placed.connect(lambda *a: placed.append(a))
    canvas.clicks.removed.connect(removed.append)
    canvas.clicks.set_clicks([Click(10, 20, True), Click(40, 30, False)])
    vp = canvas.viewport()
    qtbot.mouseClick(vp, RIGHT, NOMOD, at(canvas, 41, 30))  # within a few screen px of it
    assert removed == [1] and placed == []
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, -20, -20))
    assert placed == []


def test_dots_are_drawn_above_the_overlay_at_a_constant_screen_size(qtbot, canvas):
    canvas.clicks.set_clicks([Click(10, 20, True), Click(40, 30, False)])
    items = canvas.clicks._items
    assert len(items) == 2
    green, red = (i.brush().color() for i in items)
    assert green.green() > 200 > green.red() and red.red() > 200 > red.green()
    overlay = canvas._overlay
    assert all(i.zValue() > overlay.zValue() for i in items)

    sizes = []
    for zoom in (1.0, 8.0):
        canvas._set_scale(zoom, canvas.viewport().rect().center())
        device = items[0].deviceTransform(canvas.viewportTransform())
        sizes.append(device.mapRect(items[0].boundingRect()).width())
    assert sizes[0] == pytest.approx(sizes[1], abs=0.5)
    canvas.clicks.set_clicks([])
    assert canvas.clicks._items == [] and all(i.scene() is None for i in items)


def test_enter_accepts_esc_cancels_and_double_click_does_not_remove(qtbot, canvas):
    events = []
    canvas.clicks.accepted.connect(lambda: events.append("accept"))
    canvas.clicks.cancelled.connect(lambda: events.append("cancel"))
    canvas.clicks.removed.connect(lambda i: events.append(("removed", i)))
    canvas.clicks.placed.connect(lambda *a: canvas.clicks.set_clicks([Click(a[0], a[1], a[2])]))
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    vp = canvas.viewport()  # a person's double-click: press, release, double-click, release
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 20, 20))
    qtbot.mouseDClick(vp, LEFT, NOMOD, at(canvas, 20, 20))
    assert events == ["accept", "cancel"]
    assert len(canvas.clicks.clicks) == 1
