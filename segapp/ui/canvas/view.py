"""``PanZoomView``: the canvas's navigation — zoom around a point, fit, 1:1 and panning.

The wheel zooms around the cursor; the middle button, or the left button while Space is
held, drags the view; :meth:`PanZoomView.set_placeholder` shows a line of text in the middle
(an image still loading). :class:`~segapp.ui.canvas.canvas.Canvas` adds the editing on top.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QPainter, QPalette, QResizeEvent, QTransform
from PySide6.QtWidgets import QGraphicsView, QWidget

MAX_ZOOM = 64.0


class PanZoomView(QGraphicsView):
    """A graphics view over an image of :meth:`content_size` with zoom and pan.

    ``zoomChanged(scale)`` reports screen pixels per image pixel (``zoom()`` times the
    screen's pixel ratio: 100 % is actual pixels on a scaled screen too). Subclasses give the
    image size and may react to zoom changes in :meth:`_on_zoom_changed`.
    """

    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        # the scrollable area always holds the part to show (_place), so Qt's alignment of a
        # scene smaller than the view never moves it (centred, it did: by half a scroll bar's
        # width as the bars came or went, with sizes from before they did)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self._auto_fit = True
        self._zoom_anchor: tuple[QPointF, QPointF] | None = None  # the last zoom's, until a pan
        self._frame_size = self.size()
        self._pan_button: Qt.MouseButton | None = None
        self._pan_last = QPoint()
        self._space = False  # Space held: the left button pans
        self._placeholder = ""

    def set_placeholder(self, text: str) -> None:
        """Text in the middle of the view ("loading …", why an image cannot be shown); ""
        for none."""
        self._placeholder = text
        self.viewport().update()

    def placeholder(self) -> str:
        return self._placeholder

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 (Qt API)
        super().drawForeground(painter, rect)
        if self._placeholder:
            painter.save()
            painter.resetTransform()
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            flags = Qt.AlignmentFlag.AlignCenter.value | Qt.TextFlag.TextWordWrap.value
            box = self.viewport().rect().adjusted(40, 0, -40, 0)  # a long reason wraps
            painter.drawText(box, flags, self._placeholder)
            painter.restore()

    def content_size(self) -> tuple[int, int] | None:
        """(height, width) of the shown image, None when nothing is shown."""
        return None

    def _on_zoom_changed(self) -> None:
        """Called after every zoom change, before ``zoomChanged`` is emitted."""

    def _on_space_changed(self) -> None:
        """Called when Space (left button pans) is pressed or released."""

    # ------------------------------------------------------------------ zoom

    def to_scene(self, pos: QPointF | QPoint) -> QPointF:
        """The scene point at view position ``pos``, exactly: ``mapToScene`` takes whole
        pixels only, and on a screen scaled by 1.5 or 2 a mouse position is fractional (a
        rounded one named the next image pixel at 100 %)."""
        return self.viewportTransform().inverted()[0].map(QPointF(pos))

    def zoom(self) -> float:
        """Logical pixels per image pixel (screen pixels on an unscaled screen)."""
        return self.transform().m11()

    def fit(self) -> None:
        """Show the whole image (and keep fitting it when the view is resized)."""
        self._auto_fit = True
        size = self.content_size()
        if size is None:
            return
        h, w = size
        self._zoom_anchor = None
        self.setSceneRect(QRectF(0, 0, w, h))
        self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
        self._place(QPointF(w / 2, h / 2), QRectF(self.viewport().rect()).center())  # centred
        self._zoom_changed()

    def pixel_ratio(self) -> float:
        """Screen pixels per logical pixel: 2 on a screen scaled by 200 %."""
        return max(1.0, float(self.devicePixelRatioF()))

    def zoom_1to1(self) -> None:
        """One image pixel per screen pixel, around the view's centre: on a screen scaled by
        1.5 a logical 100 % drew image pixels 1 or 2 screen pixels wide, unevenly."""
        self._set_scale(1.0 / self.pixel_ratio(), self.viewport().rect().center())

    def zoom_by(self, factor: float) -> None:
        """Multiply the zoom by ``factor`` around the view's centre."""
        self._set_scale(self.zoom() * float(factor), self.viewport().rect().center())

    def _min_zoom(self) -> float:
        size = self.content_size()
        if size is None:
            return 0.01
        h, w = size
        vp = self.viewport().rect()
        fit = min(vp.width() / max(w, 1), vp.height() / max(h, 1))
        return max(min(fit, 1.0) * 0.5, 1e-3)

    def _set_scale(self, scale: float, anchor: QPointF | QPoint) -> None:
        """Zoom to ``scale`` keeping the scene point under ``anchor`` (view coords) fixed.

        That holds while the image is smaller than the view too (the scrollable area is the
        image and the part of the scene to show, so Qt does not centre the image), and when
        the zoom brings the scroll bars in or out (:meth:`resizeEvent` places it again).
        """
        scale = min(max(scale, self._min_zoom()), MAX_ZOOM)
        if self.content_size() is None or math.isclose(scale, self.zoom(), rel_tol=1e-9):
            return
        self._auto_fit = False
        anchor = QPointF(anchor)
        before = self.to_scene(anchor)
        last = self._zoom_anchor  # the same point again: whole scroll pixels must not add up
        if last and last[1] == anchor and (before - last[0]).manhattanLength() * self.zoom() <= 2:
            before = last[0]
        self.setTransform(QTransform.fromScale(scale, scale))
        self._zoom_anchor = (before, anchor)
        self._place(before, anchor)
        self._zoom_changed()

    def _place(self, point: QPointF, anchor: QPointF | QPoint) -> None:
        """Scroll so that scene ``point`` is under ``anchor`` (view coords) at this zoom."""
        size = self.content_size()
        if size is None:
            return
        scale, vp = self.zoom(), self.viewport().rect()
        shown = QRectF(
            point.x() - (anchor.x() - vp.left()) / scale,
            point.y() - (anchor.y() - vp.top()) / scale,
            vp.width() / scale,
            vp.height() / scale,
        )
        edge = 0.25 / scale  # a hair inside the view: rounding must not call up scroll bars
        shown.adjust(edge, edge, -edge, -edge)
        h, w = size
        self.setSceneRect(QRectF(0, 0, w, h).united(shown))
        self.centerOn(shown.center())

    def _zoom_changed(self) -> None:
        self._on_zoom_changed()
        self.zoomChanged.emit(self.zoom() * self.pixel_ratio())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        old = event.oldSize()
        centre = (
            self.to_scene(QPointF(old.width() / 2, old.height() / 2)) if old.isValid() else None
        )
        super().resizeEvent(event)
        if self.size() != self._frame_size:  # the window's resize: the centre stays
            self._frame_size = self.size()
            self._zoom_anchor = None
        if self._auto_fit:
            self.fit()
        elif self._zoom_anchor is not None:  # the zoom brought scroll bars in or out
            self._place(*self._zoom_anchor)
        elif centre is not None:
            self._place(centre, QRectF(self.viewport().rect()).center())

    # ------------------------------------------------------------------ panning

    def _starts_pan(self, button: Qt.MouseButton) -> bool:
        return button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space
        )

    def _start_pan(self, button: Qt.MouseButton, pos: QPoint) -> None:
        self._pan_button = button
        self._pan_last = pos
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def _pan_to(self, pos: QPointF) -> None:
        self._zoom_anchor = None
        delta = pos.toPoint() - self._pan_last
        self._pan_last = pos.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())

    def _stop_pan(self) -> None:
        if self._pan_button is None:
            return
        self._pan_button = None
        self._restore_cursor_shape()

    def _restore_cursor_shape(self) -> None:
        shape = Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.CrossCursor
        self.viewport().setCursor(shape)

    def _set_space(self, down: bool) -> None:
        self._space = down
        if not down and self._pan_button == Qt.MouseButton.LeftButton:
            self._stop_pan()
        self._restore_cursor_shape()
        self._on_space_changed()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._set_space(True)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._set_space(False)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 (Qt API)
        super().focusOutEvent(event)
        if self._space:  # the key release goes elsewhere
            self._set_space(False)
