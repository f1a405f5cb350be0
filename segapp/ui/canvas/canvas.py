"""``Canvas``: the image with its label overlay, where a person paints the mask.

A :class:`QGraphicsView` over three kinds of items (see :mod:`segapp.ui.canvas.items`):
the image, the overlay of the :class:`~segapp.core.document.MaskDocument`'s labels, and
the tool previews (brush circle, polygon / lasso path). The canvas never holds mask data
of its own: tools call the document, and the document reports each change with its
rectangle through ``doc.on_change``; the overlay re-reads and repaints only that
rectangle, so a brush move costs the brush's size, not the image's.

Mouse and keys:

- brush / eraser: drag to paint (one undo step per drag); ``[`` ``]`` or Ctrl+wheel
  change the radius.
- fill: click fills the region under the cursor (background that reaches the image's
  edge, the outside of the objects, only with Shift).
- polygon: click points, double-click or Enter closes and fills, Backspace removes the
  last point, Esc cancels; dragging draws a freehand lasso, filled on release. Points
  within a few screen pixels of the image's edge go onto it.
- click: left / right (or Shift+left) click = positive / negative (``click_tool.py``).
- wheel zooms around the cursor; middle-drag or Space+left-drag pans.
"""

from __future__ import annotations

import logging
import math
import weakref

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QEnterEvent,
    QKeyEvent,
    QMouseEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QFrame,
    QGraphicsScene,
    QGraphicsView,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from shiboken6 import isValid

from segapp.core.document import DEFAULT_BRUSH_RADIUS, MAX_BRUSH_RADIUS, MaskDocument
from segapp.ui.canvas.click_tool import ClickTool
from segapp.ui.canvas.items import BrushCursorItem, ImageItem, LabelOverlayItem, Rect
from segapp.ui.canvas.overlay_look import OverlayLookMixin
from segapp.ui.canvas.polygon import PolygonTool, edge_snapped
from segapp.ui.canvas.view import PanZoomView

log = logging.getLogger(__name__)

TOOLS = ("brush", "eraser", "fill", "polygon", "click")
_Z_IMAGE, _Z_OVERLAY, _Z_PATH, _Z_CURSOR, _Z_DOTS = 0, 1, 2, 3, 4


class Canvas(OverlayLookMixin, PanZoomView):
    """Shows a :class:`MaskDocument` (image + label overlay) and edits it with the mouse.

    Signals: ``cursorMoved(x, y)`` (image pixel under the mouse; -1, -1 outside),
    ``zoomChanged(scale)`` (screen pixels per image pixel), ``brushSizeChanged(radius)``,
    ``editFinished()`` (a stroke, fill or polygon changed the mask), ``toolChanged(name)``,
    ``message(text)`` (a fill refused).
    """

    cursorMoved = Signal(int, int)
    brushSizeChanged = Signal(int)
    editFinished = Signal()
    toolChanged = Signal(str)
    message = Signal(str)  # a status-bar note (a fill refused)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self._scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setScene(self._scene)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(45, 45, 48))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)

        self._doc: MaskDocument | None = None
        self._unsubscribe = None
        self._image_item: ImageItem | None = None
        self._overlay: LabelOverlayItem | None = None
        self._init_look()
        self._tool = "brush"
        # used while no document is shown (the document holds it)
        self._brush_radius = DEFAULT_BRUSH_RADIUS
        self._wheel_accum = 0
        self._last_pixel: tuple[int, int] | None = None
        # interaction state
        self._stroking = False

        self._cursor = BrushCursorItem()
        self._cursor.setZValue(_Z_CURSOR)
        self._cursor.setVisible(False)
        self._scene.addItem(self._cursor)
        self._polygon = PolygonTool(
            self._scene,
            lambda view_pos: self._edge_snapped(self._pixel(self._scene_pos(view_pos))),
            self._fill_polygon,
            _Z_PATH,
        )
        self.clicks = ClickTool(self._scene, _Z_DOTS, self)  # its signals: the click series

    # ------------------------------------------------------------------ document

    def document(self) -> MaskDocument | None:
        return self._doc

    def set_document(
        self, doc: MaskDocument | None, display: list[np.ndarray] | None = None
    ) -> None:
        """Show ``doc`` (or nothing); stops listening to the previous document.

        ``display``: the image's ``display_levels`` if made already (else made here).
        """
        if doc is self._doc:
            return
        self._end_interaction()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for item in (self._image_item, self._overlay):
            if item is not None:
                self._scene.removeItem(item)
        self._image_item = self._overlay = None
        self._doc = doc
        self._last_pixel = None
        if doc is None:
            self._scene.setSceneRect(QRectF())
            self.setSceneRect(QRectF())  # a zoom's scrollable area (view.py) goes too
            self._update_cursor_item(None)
            self._refresh_pointer()
            return
        h, w = doc.shape
        self._image_item = ImageItem(doc.image, levels=display)
        self._image_item.setZValue(_Z_IMAGE)
        self._overlay = LabelOverlayItem(doc.labels)
        self._overlay.setZValue(_Z_OVERLAY)
        self._dress(self._overlay)
        self._scene.addItem(self._image_item)
        self._scene.addItem(self._overlay)
        self._scene.setSceneRect(QRectF(0, 0, w, h))
        self._unsubscribe = doc.on_change(_weak_callback(self))
        self.fit()
        self._refresh_pointer()
        self.brushSizeChanged.emit(doc.brush_radius)

    def _on_doc_change(self, rect: Rect | None) -> None:
        if self._overlay is not None and isValid(self):
            self._overlay.refresh(rect)

    # ------------------------------------------------------------------ tools

    def tool(self) -> str:
        return self._tool

    def set_tool(self, name: str) -> None:
        """One of ``brush``, ``eraser``, ``fill``, ``polygon``, ``click``."""
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}; expected one of {', '.join(TOOLS)}")
        if name == self._tool:
            return
        self._end_interaction()
        self._tool = name
        self._update_cursor_item(self._last_scene_pos())
        self.toolChanged.emit(name)

    def brush_radius(self) -> int:
        if self._doc is not None:
            return self._doc.brush_radius
        return self._brush_radius

    def set_brush_radius(self, radius: int) -> None:
        """Set the document's brush and eraser radius (image pixels) and emit ``brushSizeChanged``.

        The radius lives in the document (``doc.brush_radius``); a window that keeps one
        radius across images sets it on each new document before :meth:`set_document`.
        """
        radius = min(max(int(round(radius)), 0), MAX_BRUSH_RADIUS)
        changed = radius != self.brush_radius()
        self._brush_radius = radius
        if self._doc is not None:
            self._doc.brush_radius = radius
        self._update_cursor_item(self._last_scene_pos())
        if changed:
            self.brushSizeChanged.emit(radius)

    def change_brush_size(self, steps: int) -> None:
        """Grow (steps > 0) or shrink the brush, by about 15% per step (at least 1 px)."""
        r = self.brush_radius()
        for _ in range(abs(steps)):
            step = max(1, round(r * 0.15))
            r = r + step if steps > 0 else r - step
        self.set_brush_radius(r)

    # ------------------------------------------------------------------ helpers

    def content_size(self) -> tuple[int, int] | None:
        return None if self._doc is None else self._doc.shape

    def _on_space_changed(self) -> None:
        self._update_cursor_item(self._last_scene_pos())  # hidden while Space pans

    def _on_zoom_changed(self) -> None:
        if self._last_pixel is not None:
            self._refresh_pointer()
        self._update_cursor_item(self._last_scene_pos())

    def _refresh_pointer(self) -> None:
        """The pixel under a mouse that did not move while the view did (a zoom, another
        image), said again: the readout kept the old position and read the new image there."""
        if self._doc is None or not self.viewport().underMouse():
            self._last_pixel = None
            self.cursorMoved.emit(-1, -1)
            return
        px, py = self._pixel(self.mapToScene(self.viewport().mapFromGlobal(QCursor.pos())))
        self._last_pixel = (px, py)
        inside = self._inside(px, py)
        self.cursorMoved.emit(px if inside else -1, py if inside else -1)

    def _scene_pos(self, view_pos: QPointF) -> QPointF:
        return self.to_scene(view_pos)

    def _last_scene_pos(self) -> QPointF | None:
        if self._last_pixel is None:
            return None
        return QPointF(self._last_pixel[0] + 0.5, self._last_pixel[1] + 0.5)

    @staticmethod
    def _pixel(scene: QPointF) -> tuple[int, int]:
        return math.floor(scene.x()), math.floor(scene.y())

    def _edge_snapped(self, pixel: tuple[int, int]) -> tuple[int, int]:
        if self._doc is None:
            return pixel
        return edge_snapped(pixel, self._doc.shape, self.zoom())

    def _inside(self, px: int, py: int) -> bool:
        if self._doc is None:
            return False
        h, w = self._doc.shape
        return 0 <= px < w and 0 <= py < h

    def _update_cursor_item(self, scene: QPointF | None) -> None:
        show = (
            scene is not None
            and self._doc is not None
            and self._tool in ("brush", "eraser")
            and self._pan_button is None
            and not self._space
        )
        if not show:
            self._cursor.setVisible(False)
            return
        px, py = self._pixel(scene)
        h, w = self._doc.shape
        dx, dy = max(0 - px, 0, px - (w - 1)), max(0 - py, 0, py - (h - 1))
        if dx * dx + dy * dy > self.brush_radius() ** 2:  # over the margin, out of reach
            self._cursor.setVisible(False)  # (near the edge it shows: it paints the border)
            return
        color = QColor(255, 120, 120) if self._tool == "eraser" else QColor(255, 255, 255)
        self._cursor.set_shape(self.brush_radius() + 0.5, 1.0 / max(self.zoom(), 1e-9), color)
        self._cursor.setPos(px + 0.5, py + 0.5)
        self._cursor.setVisible(True)

    def _end_interaction(self) -> None:
        """Finish a stroke and drop a polygon in progress (tool or document switch)."""
        if self._stroking and self._doc is not None:
            self._stroking = False
            if self._doc.end_stroke() is not None:
                self.editFinished.emit()
        self._stroking = False
        self._polygon.cancel()
        self._stop_pan()

    # ------------------------------------------------------------------ polygon / lasso

    def _fill_polygon(self, points: list[tuple[int, int]]) -> None:
        if self._doc is not None and self._doc.polygon(points) is not None:
            self.editFinished.emit()

    # ------------------------------------------------------------------ mouse

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        button = event.button()
        if self._starts_pan(button):
            self._start_pan(button, event.position().toPoint())
            self._cursor.setVisible(False)
            event.accept()
            return
        if self._doc is None or (button != Qt.MouseButton.LeftButton and self._tool != "click"):
            super().mousePressEvent(event)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        scene = self._scene_pos(event.position())
        px, py = self._pixel(scene)
        if self._tool in ("brush", "eraser"):
            self._stroking = True
            self._doc.begin_stroke(px, py, erase=self._tool == "eraser")
        elif self._tool == "fill":
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                rect, outside = self._doc.fill(px, py), 0
            else:
                rect, outside = self._doc.fill_unless_outside(px, py)
            if outside:
                self.message.emit(
                    "fill: Shift+click fills background that reaches the image's edge (here "
                    f"{outside} px: the outside of the objects, not a hole)"
                )
            elif rect is not None:
                self.editFinished.emit()
        elif self._tool == "polygon":
            self._polygon.press(event.position())
        elif self._tool == "click":
            self.clicks.press(button, event.modifiers(), scene, self.zoom(), self._inside(px, py))
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        pos = event.position()
        if self._pan_button is not None:
            self._pan_to(pos)
            event.accept()
            return
        scene = self._scene_pos(pos)
        px, py = self._pixel(scene)
        if (px, py) != self._last_pixel:
            self._last_pixel = (px, py)
            inside = self._inside(px, py)
            self.cursorMoved.emit(px if inside else -1, py if inside else -1)
            self._update_cursor_item(scene)
            if self._stroking and self._doc is not None:
                self._doc.stroke_to(px, py)
        if self._tool == "polygon" and self._doc is not None:
            self._polygon.move(pos, self._edge_snapped((px, py)))
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        button = event.button()
        if self._pan_button is not None and button == self._pan_button:
            self._stop_pan()
            self._update_cursor_item(self._scene_pos(event.position()))
            event.accept()
            return
        if button != Qt.MouseButton.LeftButton or self._doc is None:
            super().mouseReleaseEvent(event)
            return
        if self._stroking:
            self._stroking = False
            if self._doc.end_stroke() is not None:
                self.editFinished.emit()
        elif self._tool == "polygon":
            self._polygon.release(event.position())
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if (
            self._tool == "polygon"
            and event.button() == Qt.MouseButton.LeftButton
            and self._pan_button is None
            and not self._space
        ):
            self._polygon.double_click(event.position())
            event.accept()
            return
        if self._tool != "click":  # (its second press would remove the dot just placed)
            self.mousePressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        dy = event.angleDelta().y() or event.angleDelta().x()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._wheel_accum += dy
            steps = int(self._wheel_accum / 120)
            if steps:
                self._wheel_accum -= steps * 120
                self.change_brush_size(steps)
        elif dy:
            self._set_scale(self.zoom() * 2.0 ** (dy / 480.0), event.position())
        event.accept()

    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802 (Qt API)
        super().enterEvent(event)
        focus = QApplication.focusWidget()
        typing = isinstance(focus, QLineEdit | QAbstractSpinBox | QTextEdit | QPlainTextEdit)
        if not typing and self.isActiveWindow():
            self.setFocus(Qt.FocusReason.MouseFocusReason)  # so [ ] and Space work on hover

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().leaveEvent(event)
        self._cursor.setVisible(False)
        self._polygon.update_rubber(None)
        self._last_pixel = None
        self.cursorMoved.emit(-1, -1)

    # ------------------------------------------------------------------ keys

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        key, text = event.key(), event.text()
        if key == Qt.Key.Key_BracketLeft or text == "[":
            self.change_brush_size(-1)
            event.accept()
        elif key == Qt.Key.Key_BracketRight or text == "]":
            self.change_brush_size(1)
            event.accept()
        elif self._tool == "polygon" and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._polygon.commit()
            event.accept()
        elif self._tool == "click" and self.clicks.key(key):
            event.accept()
        elif key == Qt.Key.Key_Escape and self._polygon.active:
            self._polygon.cancel()
            event.accept()
        elif key == Qt.Key.Key_Backspace and self._polygon.points:
            self._polygon.pop_point(self._last_pixel)
            event.accept()
        else:
            super().keyPressEvent(event)


def _weak_callback(canvas: Canvas):
    """A document callback that does not keep the canvas alive."""
    ref = weakref.ref(canvas)

    def on_change(rect: Rect | None) -> None:
        c = ref()
        if c is not None:
            c._on_doc_change(rect)

    return on_change
