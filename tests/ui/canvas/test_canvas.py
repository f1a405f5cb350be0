"""Canvas: painting with the mouse edits the document; the overlay follows (ui/canvas/)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from segapp.core.document import MaskDocument
from segapp.ui.canvas.canvas import Canvas

RED, GREEN = (255, 0, 0), (0, 255, 0)
LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


@pytest.fixture
def canvas(qtbot) -> Canvas:
    c = Canvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    c.set_colors([(0, 0, 0), RED, GREEN])
    c.show()
    qtbot.waitExposed(c)
    return c


def make_doc(h=60, w=80, image=None) -> MaskDocument:
    if image is None:
        image = np.full((h, w, 3), 100, np.uint8)
    doc = MaskDocument(image)
    doc.brush_radius = 2
    return doc


def at(canvas: Canvas, x: float, y: float) -> QPoint:
    """Viewport position of the centre of image pixel (x, y)."""
    return canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def drag(qtbot, canvas: Canvas, points) -> None:
    vp = canvas.viewport()
    qtbot.mousePress(vp, LEFT, NOMOD, at(canvas, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(vp, at(canvas, *p))
    qtbot.mouseRelease(vp, LEFT, NOMOD, at(canvas, *points[-1]))


def overlay_rgb(canvas: Canvas, x: int, y: int) -> tuple[int, int, int, int]:
    c = QColor.fromRgba(canvas.overlay_image().pixel(x, y))
    return (c.red(), c.green(), c.blue(), c.alpha())


def test_brush_drag_paints_along_the_path_as_one_undo_step(qtbot, canvas):
    doc = make_doc()
    canvas.set_document(doc)
    assert canvas.tool() == "brush"
    with qtbot.waitSignal(canvas.editFinished, timeout=1000):
        drag(qtbot, canvas, [(10, 30), (20, 30), (30, 30), (40, 30)])
    assert (doc.labels[30, 10:41] == 1).all()
    assert doc.labels[30, 60] == 0 and doc.labels[5, 20] == 0
    assert overlay_rgb(canvas, 25, 30) == (*RED, 255)
    assert overlay_rgb(canvas, 60, 30)[3] == 0  # background is transparent
    assert doc.history.undo_count == 1
    doc.undo()
    assert doc.labels.sum() == 0
    assert overlay_rgb(canvas, 25, 30)[3] == 0  # the overlay followed the undo
    doc.redo()
    assert overlay_rgb(canvas, 25, 30) == (*RED, 255)


def test_fill_leaves_the_outside_of_the_objects_unless_shift_is_held(qtbot, canvas):
    """Walk-through 8: a fill click on background beside a person made the whole image the
    class (578,000 px, autosaved as corrected)."""
    labels = np.zeros((60, 80), np.uint8)
    labels[10:50, 10:40] = 1
    labels[20:30, 20:30] = 0  # a hole
    doc = make_doc()
    doc.set_labels(labels, as_proposal=False)
    canvas.set_document(doc)
    canvas.set_tool("fill")
    said = []
    canvas.message.connect(said.append)
    qtbot.mouseClick(canvas.viewport(), LEFT, NOMOD, at(canvas, 60, 30))
    outside = 60 * 80 - 40 * 30
    assert (doc.labels == labels).all() and doc.history.undo_count == 0
    assert said == [
        "fill: Shift+click fills background that reaches the image's edge (here "
        f"{outside} px: the outside of the objects, not a hole)"
    ]
    with qtbot.waitSignal(canvas.editFinished, timeout=1000):
        qtbot.mouseClick(canvas.viewport(), LEFT, NOMOD, at(canvas, 25, 25))  # the hole
    assert (doc.labels[10:50, 10:40] == 1).all() and doc.labels[5, 5] == 0
    shift = Qt.KeyboardModifier.ShiftModifier
    with qtbot.waitSignal(canvas.editFinished, timeout=1000):
        qtbot.mouseClick(canvas.viewport(), LEFT, shift, at(canvas, 60, 30))
    assert (doc.labels == 1).all() and len(said) == 1
    doc.active_class = 0  # class 1 to background: not the outside of anything
    assert doc.outside_area(5, 5) == 0


def test_eraser_clears_and_active_class_is_painted(qtbot, canvas):
    doc = make_doc()
    canvas.set_document(doc)
    doc.active_class = 2
    drag(qtbot, canvas, [(10, 20), (50, 20)])
    assert doc.labels[20, 30] == 2 and overlay_rgb(canvas, 30, 20) == (*GREEN, 255)
    canvas.set_tool("eraser")
    drag(qtbot, canvas, [(25, 20), (35, 20)])
    assert (doc.labels[20, 25:36] == 0).all()
    assert doc.labels[20, 12] == 2 and doc.labels[20, 48] == 2
    assert overlay_rgb(canvas, 30, 20)[3] == 0


def test_fill_click_fills_the_region(qtbot, canvas):
    labels = np.zeros((60, 80), np.uint8)
    labels[10:50, 10] = labels[10:50, 40] = 1
    labels[10, 10:41] = labels[49, 10:41] = 1
    doc = make_doc()
    doc.set_labels(labels, as_proposal=False)
    canvas.set_document(doc)
    canvas.set_tool("fill")
    with qtbot.waitSignal(canvas.editFinished, timeout=1000):
        qtbot.mouseClick(canvas.viewport(), LEFT, NOMOD, at(canvas, 25, 30))
    assert (doc.labels[11:49, 11:40] == 1).all()
    assert doc.labels[30, 60] == 0 and doc.labels[5, 5] == 0
    assert overlay_rgb(canvas, 25, 30) == (*RED, 255)


def test_polygon_by_clicks_and_double_click(qtbot, canvas):
    doc = make_doc()
    canvas.set_document(doc)
    canvas.set_tool("polygon")
    vp = canvas.viewport()
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 10, 10))
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 50, 10))
    assert doc.labels.sum() == 0  # nothing until the polygon is closed
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 50, 50))  # a double-click's first click
    with qtbot.waitSignal(canvas.editFinished, timeout=1000):
        qtbot.mouseDClick(vp, LEFT, NOMOD, at(canvas, 50, 50))
    assert doc.labels[15, 40] == 1 and doc.labels[40, 15] == 0  # triangle above the diagonal
    assert doc.history.undo_count == 1
    # Enter closes too; Esc cancels
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 60, 5))
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 75, 5))
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 75, 20))
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert doc.labels[8, 72] == 0 and doc.history.undo_count == 1
    for p in [(60, 5), (75, 5), (75, 20)]:
        qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, *p))
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert doc.labels[8, 72] == 1 and doc.history.undo_count == 2


def test_quick_polygon_clicks_apart_are_points_not_a_double_click(qtbot, canvas):
    """Walk-throughs 9 and 10: points clicked 120 ms apart along a curl came as Qt's
    double-click (within 5 px on each axis) and split the polygon into three."""
    doc = make_doc()
    canvas.set_document(doc)  # 5 screen px an image px
    canvas.set_tool("polygon")
    _click_at(canvas, QPointF(at(canvas, 10, 10)))
    _click_at(canvas, QPointF(at(canvas, 50, 10)))
    second = QPointF(at(canvas, 50, 10)) + QPointF(4, 4)  # 4 screen px on each axis
    _click_at(canvas, second, double=True)
    assert doc.history.undo_count == 0  # not closed: one more point
    _click_at(canvas, QPointF(at(canvas, 50, 50)))
    _click_at(canvas, QPointF(at(canvas, 50, 50)) + QPointF(1, 1), double=True)  # closed
    assert doc.history.undo_count == 1 and doc.labels[15, 40] == 1 and doc.labels[40, 15] == 0


def test_polygon_points_near_the_edge_go_onto_it(qtbot, canvas):
    """Walk-through 8: points at y 477 of a 480-row image left the last rows unlabelled."""
    doc = make_doc()
    canvas.set_document(doc)  # 5 screen px an image px: within 6 screen px is 1 image px
    canvas.set_tool("polygon")
    vp = canvas.viewport()
    for p in [(10, 40), (30, 40), (30, 58)]:
        qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, *p))
    qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, 10, 58))
    with qtbot.waitSignal(canvas.editFinished, timeout=1000):
        qtbot.mouseDClick(vp, LEFT, NOMOD, at(canvas, 10, 58))
    assert (doc.labels[40:60, 10:31] == 1).all()  # down to the last row, 59
    for p in [(40, 40), (60, 40), (60, 57)]:  # two image px (10 screen px) off: as clicked
        qtbot.mouseClick(vp, LEFT, NOMOD, at(canvas, *p))
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert doc.labels[57, 60] == 1 and not doc.labels[58:, 41:].any()


def test_polygon_drag_is_a_freehand_lasso(qtbot, canvas):
    doc = make_doc()
    canvas.set_document(doc)
    canvas.set_tool("polygon")
    with qtbot.waitSignal(canvas.editFinished, timeout=1000):
        drag(qtbot, canvas, [(10, 10), (40, 10), (40, 40), (10, 40)])
    assert (doc.labels[12:39, 12:39] == 1).all()
    assert doc.labels[50, 50] == 0


def test_bracket_keys_and_ctrl_wheel_change_the_brush(qtbot, canvas):
    doc = make_doc()
    doc.brush_radius = 10
    canvas.set_document(doc)
    with qtbot.waitSignal(canvas.brushSizeChanged, timeout=1000) as sig:
        qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert doc.brush_radius > 10 and sig.args == [doc.brush_radius]
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert doc.brush_radius < 10
    r = doc.brush_radius
    pos = QPointF(at(canvas, 40, 30))
    wheel = QWheelEvent(
        pos,
        canvas.viewport().mapToGlobal(pos),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    zoom = canvas.zoom()
    QApplication.sendEvent(canvas.viewport(), wheel)
    assert doc.brush_radius > r and canvas.zoom() == zoom
    for _ in range(50):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert doc.brush_radius == 0  # never negative
    # a new document brings its own radius and the canvas reports it
    doc2 = make_doc()
    doc2.brush_radius = 7
    with qtbot.waitSignal(canvas.brushSizeChanged, timeout=1000) as sig:
        canvas.set_document(doc2)
    assert sig.args == [7] and canvas.brush_radius() == 7


def test_brush_preview_follows_radius_and_cursor(qtbot, canvas):
    doc = make_doc()
    doc.brush_radius = 6
    canvas.set_document(doc)
    qtbot.mouseMove(canvas.viewport(), at(canvas, 30, 20))
    cursor = canvas._cursor
    assert cursor.isVisible()
    assert cursor.pos() == QPointF(30.5, 20.5) and cursor.radius == 6.5
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert cursor.radius == doc.brush_radius + 0.5
    canvas.set_tool("fill")
    assert not cursor.isVisible()


def test_the_brush_circle_shows_over_the_margin_only_where_it_reaches_the_image(qtbot, canvas):
    """Walk-through 7: the circle was drawn over the margin, out of the image's reach."""
    doc = make_doc(h=60, w=40)  # a 200 px wide image in the 400 px view: margins each side
    doc.brush_radius = 4
    canvas.set_document(doc)
    qtbot.mouseMove(canvas.viewport(), at(canvas, -12, 30))
    assert not canvas._cursor.isVisible()
    qtbot.mouseMove(canvas.viewport(), at(canvas, -3, 30))  # 3 px out: it paints the edge
    assert canvas._cursor.isVisible()
    with qtbot.waitSignal(canvas.editFinished, timeout=1000):
        drag(qtbot, canvas, [(-3, 30), (-3, 40)])
    assert (doc.labels[30:41, :2] == 1).all() and not doc.labels[:, 2:].any()  # x <= -3 + 4


def test_wheel_zooms_around_the_cursor_and_fit_1to1(qtbot, canvas):
    doc = make_doc()
    canvas.set_document(doc)
    fit_zoom = canvas.zoom()
    assert fit_zoom == pytest.approx(min(400 / 80, 300 / 60), rel=0.05)
    pos = QPointF(at(canvas, 20, 15))
    before = canvas.mapToScene(pos.toPoint())
    wheel = QWheelEvent(
        pos,
        canvas.viewport().mapToGlobal(pos),
        QPoint(),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        NOMOD,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    with qtbot.waitSignal(canvas.zoomChanged, timeout=1000):
        QApplication.sendEvent(canvas.viewport(), wheel)
    assert canvas.zoom() == pytest.approx(fit_zoom * 2**0.5)
    after = canvas.mapToScene(pos.toPoint())
    assert abs(after.x() - before.x()) < 1 and abs(after.y() - before.y()) < 1
    canvas.zoom_1to1()
    assert canvas.zoom() == 1.0
    canvas.zoom_by(2.0)
    assert canvas.zoom() == 2.0
    canvas.fit()
    assert canvas.zoom() == pytest.approx(fit_zoom)


def _wheel(canvas: Canvas, pos: QPointF, dy: int) -> None:
    event = QWheelEvent(
        pos,
        canvas.viewport().mapToGlobal(pos),
        QPoint(),
        QPoint(0, dy),
        Qt.MouseButton.NoButton,
        NOMOD,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas.viewport(), event)


@pytest.mark.parametrize("shape", [(30, 80), (60, 30)])  # margins above and below; at the sides
def test_the_point_under_the_cursor_stays_while_the_image_is_smaller_than_the_view(
    qtbot, canvas, shape
):
    """Qt centres a scene smaller than its view: the zoom must not let it pull the image."""
    h, w = shape
    canvas.set_document(make_doc(h, w))
    for x, y, dy in ((5, 4, 120), (5, 4, 240), (w - 6, h - 5, 120), (w - 6, h - 5, -360)):
        pos = QPointF(at(canvas, x, y))
        before = canvas.mapToScene(pos.toPoint())
        _wheel(canvas, pos, dy)
        qtbot.wait(20)  # the scroll bars come or go after the event (a queued call)
        after = canvas.mapToScene(pos.toPoint())
        assert abs(after.x() - before.x()) < 0.5 and abs(after.y() - before.y()) < 0.5, (x, y)
    canvas.fit()  # the whole image, centred again, and no scroll bars
    qtbot.wait(20)
    view = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    assert view.center().x() == pytest.approx(w / 2, abs=0.5)
    assert view.center().y() == pytest.approx(h / 2, abs=0.5)
    assert view.contains(QRectF(0, 0, w, h))
    bars = canvas.horizontalScrollBar(), canvas.verticalScrollBar()
    assert not any(bar.isVisible() for bar in bars)


def test_middle_drag_pans(qtbot, canvas):
    doc = make_doc()
    canvas.set_document(doc)
    canvas.zoom_by(4.0)
    vp = canvas.viewport()
    center = vp.rect().center()
    before = canvas.mapToScene(center)
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, NOMOD, center)
    qtbot.mouseMove(vp, center + QPoint(40, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, NOMOD, center + QPoint(40, 0))
    after = canvas.mapToScene(center)
    # the image moved right with the mouse, 40 screen pixels
    assert before.x() - after.x() == pytest.approx(40 / canvas.zoom(), abs=0.2)
    assert doc.labels.sum() == 0  # panning paints nothing


def test_cursor_moved_reports_image_pixels(qtbot, canvas):
    doc = make_doc()
    canvas.set_document(doc)
    with qtbot.waitSignal(canvas.cursorMoved, timeout=1000) as sig:
        qtbot.mouseMove(canvas.viewport(), at(canvas, 12, 34))
    assert sig.args == [12, 34]
    canvas.zoom_by(0.5)
    with qtbot.waitSignal(canvas.cursorMoved, timeout=1000) as sig:
        qtbot.mouseMove(canvas.viewport(), QPoint(1, 1))  # the margin around the image
    assert sig.args == [-1, -1]


def test_overlay_visibility_opacity_and_outline(qtbot, canvas):
    labels = np.zeros((60, 80), np.uint8)
    labels[10:40, 10:40] = 1
    doc = make_doc()
    doc.set_labels(labels, as_proposal=False)
    canvas.set_document(doc)
    overlay = canvas._overlay
    assert overlay.isVisible() and overlay.opacity() == pytest.approx(0.5)
    canvas.set_overlay_visible(False)
    assert not overlay.isVisible() and not canvas.overlay_visible()
    canvas.set_overlay_visible(True)
    canvas.set_overlay_opacity(0.8)
    assert overlay.opacity() == pytest.approx(0.8)
    canvas.set_overlay_opacity(3)
    assert canvas.overlay_opacity() == 1.0
    canvas.set_outline_mode(True)
    assert overlay_rgb(canvas, 10, 20) == (*RED, 255)  # boundary shown
    assert overlay_rgb(canvas, 25, 25)[3] == 0  # inside not
    # an edit in outline mode updates the boundary locally
    doc.begin_stroke(25, 25)
    doc.end_stroke()
    assert overlay_rgb(canvas, 25, 25)[3] == 0
    canvas.set_tool("eraser")
    drag(qtbot, canvas, [(25, 25), (26, 25)])
    assert overlay_rgb(canvas, 25, 25)[3] == 0 and overlay_rgb(canvas, 25, 22) == (*RED, 255)
    canvas.set_outline_mode(False)
    assert overlay_rgb(canvas, 15, 15) == (*RED, 255)
    canvas.set_colors([(0, 0, 0), (0, 0, 255)])
    assert overlay_rgb(canvas, 15, 15) == (0, 0, 255, 255)


def test_the_overlay_is_painted_over_the_image(qtbot, canvas):
    doc = make_doc()
    canvas.set_document(doc)
    canvas.set_overlay_opacity(1.0)
    drag(qtbot, canvas, [(20, 20), (40, 20)])
    canvas.viewport().repaint()
    shot: QImage = canvas.viewport().grab().toImage()
    painted = QColor(shot.pixel(at(canvas, 30, 20)))
    plain = QColor(shot.pixel(at(canvas, 30, 50)))
    assert (painted.red(), painted.green(), painted.blue()) == RED
    assert (plain.red(), plain.green(), plain.blue()) == (100, 100, 100)


def test_set_document_twice_does_not_leak_callbacks(qtbot, canvas):
    doc1, doc2 = make_doc(), make_doc(40, 50)
    canvas.set_document(doc1)
    canvas.set_document(doc2)
    canvas.set_document(doc1)
    canvas.set_document(doc2)
    assert len(doc1._callbacks) == 0 and len(doc2._callbacks) == 1
    doc1.begin_stroke(5, 5)
    doc1.end_stroke()
    assert overlay_rgb(canvas, 5, 5)[3] == 0  # the shown overlay belongs to doc2
    canvas.set_document(None)
    assert len(doc2._callbacks) == 0 and canvas.overlay_image() is None
    drag(qtbot, canvas, [(5, 5), (10, 5)])  # no document: nothing happens


def test_gray_and_16_bit_images_are_shown(qtbot, canvas):
    img16 = (np.arange(60 * 80, dtype=np.uint16).reshape(60, 80) * 13).astype(np.uint16)
    canvas.set_document(make_doc(image=img16))
    canvas.viewport().repaint()
    shot = canvas.viewport().grab().toImage()
    dark = QColor(shot.pixel(at(canvas, 1, 0))).red()
    bright = QColor(shot.pixel(at(canvas, 78, 59))).red()
    assert dark < 20 and bright > 235
    canvas.set_document(make_doc(image=np.full((60, 80), 200, np.uint8)))
    canvas.viewport().repaint()
    shot = canvas.viewport().grab().toImage()
    assert QColor(shot.pixel(at(canvas, 40, 30))).red() == 200


def test_unknown_tool_is_rejected(canvas):
    with pytest.raises(ValueError):
        canvas.set_tool("magic")


def test_a_zoomed_view_keeps_its_centre_when_the_window_grows(qtbot, canvas):
    canvas.set_document(make_doc(30, 80))
    canvas.zoom_by(0.6)  # smaller than the view: its margins are the zoom's, not Qt's
    qtbot.wait(20)
    centre = canvas.mapToScene(canvas.viewport().rect().center())
    canvas.resize(600, 500)
    qtbot.wait(20)
    after = canvas.mapToScene(canvas.viewport().rect().center())
    assert abs(after.x() - centre.x()) < 0.5 and abs(after.y() - centre.y()) < 0.5


def _click_at(canvas: Canvas, pos: QPointF, double: bool = False) -> None:
    """A left click at a fractional view position, as a screen scaled by 1.5 or 2 sends
    (``double``: the second click of a double-click, as Qt's xcb platform sends it)."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QMouseEvent

    press = QEvent.Type.MouseButtonDblClick if double else QEvent.Type.MouseButtonPress
    for kind, buttons in (
        (press, Qt.MouseButton.LeftButton),
        (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton),
    ):
        glob = QPointF(canvas.viewport().mapToGlobal(pos.toPoint()))
        event = QMouseEvent(kind, pos, glob, Qt.MouseButton.LeftButton, buttons, NOMOD)
        QApplication.sendEvent(canvas.viewport(), event)


def test_a_click_in_the_right_half_of_a_drawn_pixel_paints_that_pixel(qtbot, canvas):
    """On a scaled screen, positions like x.5 were rounded up to the next logical pixel: at
    100 % the brush, fill, polygon and readout took the pixel right of or below the one
    drawn under the pointer."""
    doc = make_doc()
    doc.brush_radius = 0
    canvas.set_document(doc)
    canvas.zoom_1to1()
    qtbot.wait(20)
    corner = QPointF(canvas.mapFromScene(QPointF(10, 20)))  # pixel (10, 20)'s top left
    assert canvas.to_scene(corner).x() == pytest.approx(10, abs=1e-6)
    _click_at(canvas, corner + QPointF(0.75, 0.75))
    assert doc.labels[20, 10] == 1 and doc.labels.sum() == 1


def test_a_partial_repaint_at_a_fractional_zoom_matches_the_whole(qtbot, canvas):
    """Repainting a part of the image (under the brush circle, beside a stroke) at 141 %
    shifted that band by a screen pixel: straight edges jogged where the brush had passed."""
    grid = np.full((150, 200, 3), 255, np.uint8)
    grid[::10] = 0
    grid[:, ::10] = 0
    canvas.resize(500, 400)
    canvas.set_document(make_doc(image=grid))

    def screen() -> np.ndarray:
        qtbot.wait(20)
        shot = QApplication.primaryScreen().grabWindow(canvas.winId()).toImage()
        shot = shot.convertToFormat(QImage.Format.Format_RGB32)
        data = np.frombuffer(shot.constBits(), np.uint8, shot.bytesPerLine() * shot.height())
        return data.reshape(shot.height(), -1).copy()

    for zoom in (1.41, 1.3, 1.7):
        canvas.zoom_1to1()
        canvas.zoom_by(zoom)
        whole = screen()
        for x in range(0, 200, 7):  # small repaints, as the brush circle makes
            canvas.scene().update(QRectF(x + 0.3, 50.3, 3.1, 3.1))
            QApplication.processEvents()  # each painted on its own
        assert (screen() != whole).sum() == 0, zoom


def test_actual_pixels_are_screen_pixels_on_a_scaled_screen(qtbot, canvas, monkeypatch):
    """On a screen scaled by 1.5, "Actual pixels" drew each image pixel 1.5 screen pixels
    wide (1 or 2, unevenly) and called it 100 %."""
    canvas.set_document(make_doc())
    monkeypatch.setattr(canvas, "pixel_ratio", lambda: 2.0)
    with qtbot.waitSignal(canvas.zoomChanged, timeout=1000) as shown:
        canvas.zoom_1to1()
    assert canvas.zoom() == pytest.approx(0.5)  # logical: half, so one screen pixel each
    assert shown.args == [pytest.approx(1.0)]  # the status bar's 100 %
