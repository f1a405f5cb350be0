"""The canvas's Click tool: clicks that tell the model "this belongs" or "this does not".

Left click = positive (the active class is here); right click or Shift+left = negative.
A click on a dot already shown removes it; Enter accepts the series, Esc cancels it. The
tool only reports these (signals) and draws the dots it is given, as scene items of a
constant size on screen (green positive, red negative); what a click does to the mask
is the click controller's job (:mod:`segapp.ui.labeling.click_series`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsScene

from segapp.core.clicks import Click

DOT_RADIUS_PX = 5.0  # on screen, whatever the zoom
HIT_RADIUS_PX = 8.0  # a click this close to a dot (on screen) removes it
POSITIVE, NEGATIVE = QColor(40, 220, 60), QColor(235, 40, 40)


class ClickTool(QObject):
    """Turns mouse presses and keys into click events; draws the dots of ``set_clicks``.

    Signals: ``placed(x, y, positive)`` (image pixel), ``removed(index)`` (of the dot
    clicked), ``accepted()`` (Enter), ``cancelled()`` (Esc).
    """

    placed = Signal(int, int, bool)
    removed = Signal(int)
    accepted = Signal()
    cancelled = Signal()

    def __init__(self, scene: QGraphicsScene, z: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scene = scene
        self._z = z
        self._items: list[QGraphicsEllipseItem] = []
        self.clicks: list[Click] = []

    def set_clicks(self, clicks: Sequence[Click]) -> None:
        """Show these dots (and only these)."""
        for item in self._items:
            self._scene.removeItem(item)
        self._items = [self._dot(c) for c in clicks]
        self.clicks = list(clicks)

    def _dot(self, click: Click) -> QGraphicsEllipseItem:
        r = DOT_RADIUS_PX
        item = QGraphicsEllipseItem(QRectF(-r, -r, 2 * r, 2 * r))
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        item.setBrush(QBrush(POSITIVE if click.positive else NEGATIVE))
        pen = QPen(QColor(255, 255, 255), 1.5)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setPos(click.x + 0.5, click.y + 0.5)
        item.setZValue(self._z)
        self._scene.addItem(item)
        return item

    def dot_at(self, scene: QPointF, zoom: float) -> int | None:
        """The index of the dot under ``scene`` (within HIT_RADIUS_PX on screen), nearest first."""
        best, best_d = None, HIT_RADIUS_PX
        for i, c in enumerate(self.clicks):
            d = math.hypot(scene.x() - c.x - 0.5, scene.y() - c.y - 0.5) * zoom
            if d <= best_d:
                best, best_d = i, d
        return best

    def press(
        self,
        button: Qt.MouseButton,
        modifiers: Qt.KeyboardModifier,
        scene: QPointF,
        zoom: float,
        inside: bool,
    ) -> None:
        """A mouse press on the canvas (left or right button; others are ignored)."""
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        hit = self.dot_at(scene, zoom)
        if hit is not None:
            self.removed.emit(hit)
        elif inside:
            negative = button == Qt.MouseButton.RightButton or bool(
                modifiers & Qt.KeyboardModifier.ShiftModifier
            )
            self.placed.emit(math.floor(scene.x()), math.floor(scene.y()), not negative)

    def key(self, key: int) -> bool:
        """Enter accepts, Esc cancels; True when the key was the tool's."""
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accepted.emit()
        elif key == Qt.Key.Key_Escape:
            self.cancelled.emit()
        else:
            return False
        return True
