"""The canvas's polygon tool: click points, or drag a freehand lasso, then fill.

Clicks add vertices (double-click or Enter closes and fills, Backspace removes the last
point, Esc cancels); a press that moves a few screen pixels before release draws a lasso
instead, filled on release. The tool only collects points and draws the preview paths;
filling is the ``on_commit`` callback's job (the canvas calls the document).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene

Pixel = tuple[int, int]

LASSO_START_PX = 4  # a press that moves this far (screen px) is a lasso, not a click
# a double-click closes the polygon only this near (screen px, each axis) its first click:
# Qt allows 5, and points clicked 120 ms apart along a curl came as double-clicks and split
# the polygon (walk-throughs 9 and 10)
DOUBLE_CLICK_PX = 2
EDGE_SNAP_PX = 6  # screen px: points this near the image's edge go onto it


def edge_snapped(pixel: Pixel, shape: tuple[int, int], zoom: float) -> Pixel:
    """``pixel`` on the image's edge when within ``EDGE_SNAP_PX`` screen px of it (at
    ``zoom`` screen px per image px): a point meant for the border otherwise left the last
    rows of an object cut by the frame out (walk-through 8)."""
    h, w = shape
    near = EDGE_SNAP_PX / max(zoom, 1e-9)
    x, y = pixel
    x = 0 if x < near else (w - 1 if x > w - 1 - near else x)
    y = 0 if y < near else (h - 1 if y > h - 1 - near else y)
    return x, y


class PolygonTool:
    """Collects polygon / lasso points from view positions and previews them in ``scene``.

    ``to_pixel`` maps a view position to the image pixel under it; ``on_commit`` receives
    the closed polygon's points (three or more).
    """

    def __init__(
        self,
        scene: QGraphicsScene,
        to_pixel: Callable[[QPointF], Pixel],
        on_commit: Callable[[list[Pixel]], None],
        z: float,
    ) -> None:
        self._to_pixel = to_pixel
        self._on_commit = on_commit
        self.points: list[Pixel] = []
        self._press: QPointF | None = None  # view position of a left press
        self._clicked: QPointF | None = None  # ... and of the latest click's release
        self._drag = False
        self._lasso = False  # the current drag started a new lasso
        self._path_item = QGraphicsPathItem()
        self._rubber_item = QGraphicsPathItem()
        for item, style in (
            (self._path_item, Qt.PenStyle.SolidLine),
            (self._rubber_item, Qt.PenStyle.DashLine),
        ):
            pen = QPen(QColor(255, 255, 0), 1.5, style)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(z)
            scene.addItem(item)

    @property
    def active(self) -> bool:
        """A polygon is being drawn (points placed or a press in progress)."""
        return bool(self.points) or self._press is not None

    def cancel(self) -> None:
        self.points = []
        self._press = self._clicked = None
        self._drag = self._lasso = False
        self._path_item.setPath(QPainterPath())
        self._rubber_item.setPath(QPainterPath())

    def commit(self) -> None:
        points = self.points
        self.cancel()
        if len(points) >= 3:
            self._on_commit(points)

    def pop_point(self, cursor: Pixel | None) -> None:
        if self.points:
            self.points.pop()
            self._update_path()
            self.update_rubber(cursor)

    # ------------------------------------------------------------------ mouse

    def press(self, view_pos: QPointF) -> None:
        self._press = view_pos
        self._drag = False

    def move(self, view_pos: QPointF, pixel: Pixel) -> None:
        if self._press is not None:
            if not self._drag:
                d = view_pos - self._press
                if abs(d.x()) + abs(d.y()) < LASSO_START_PX:
                    self.update_rubber(pixel)
                    return
                self._drag = True
                self._lasso = not self.points
                self._add(self._to_pixel(self._press))
            self._add(pixel)
        self.update_rubber(pixel)

    def release(self, view_pos: QPointF) -> None:
        if self._press is None:
            return
        self._press = None
        self._clicked = view_pos
        if self._drag:
            self._drag = False
            if self._lasso:
                self.commit()
        else:
            self._add(self._to_pixel(view_pos))
        self.update_rubber(self._to_pixel(view_pos))

    def double_click(self, view_pos: QPointF) -> None:
        """Close the polygon; a "double-click" away from the click before it is a press."""
        last = self._clicked
        if last is not None:
            d = view_pos - last
            if max(abs(d.x()), abs(d.y())) > DOUBLE_CLICK_PX:
                self.press(view_pos)  # its release adds the point
                return
        # a real double-click's first click added the point already (it is not repeated)
        self._press = None
        self._add(self._to_pixel(view_pos))
        self.commit()

    # ------------------------------------------------------------------ preview

    def _add(self, pixel: Pixel) -> None:
        if not self.points or self.points[-1] != pixel:
            self.points.append(pixel)
            self._update_path()

    def _update_path(self) -> None:
        path = QPainterPath()
        if self.points:
            x0, y0 = self.points[0]
            path.moveTo(x0 + 0.5, y0 + 0.5)
            for x, y in self.points[1:]:
                path.lineTo(x + 0.5, y + 0.5)
        self._path_item.setPath(path)

    def update_rubber(self, cursor: Pixel | None) -> None:
        """The dashed lines from the last point to the cursor and back to the first."""
        path = QPainterPath()
        if self.points and cursor is not None and not self._drag:
            (lx, ly), (fx, fy) = self.points[-1], self.points[0]
            path.moveTo(lx + 0.5, ly + 0.5)
            path.lineTo(cursor[0] + 0.5, cursor[1] + 0.5)
            if len(self.points) >= 2:
                path.lineTo(fx + 0.5, fy + 0.5)
        self._rubber_item.setPath(path)
