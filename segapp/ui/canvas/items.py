"""Graphics items of the :class:`~segapp.ui.canvas.canvas.Canvas`: image, mask overlay, cursor.

Every item paints only the part of itself that Qt asks for (``option.exposedRect``), so a
repaint costs the size of the repainted region on screen, never the size of the image.

- :class:`ImageItem` shows the image (8/16-bit gray or RGB). It keeps a small pyramid of
  halved copies, drawn when zoomed out, so a large image looks smooth and stays cheap.
- :class:`LabelOverlayItem` shows the label mask as an ``Indexed8`` :class:`QImage` over
  its own ``uint8`` buffer: the colour table maps class index -> colour (index 0
  transparent), so recolouring is free and a change costs a copy of the changed rectangle.
  In outline mode the buffer holds only the class boundaries. Ignore pixels (index 255,
  "not labelled here") are drawn hatched: diagonal stripes of ``IGNORE_COLOR``.
- :class:`BrushCursorItem` is the round brush preview.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

Rect = tuple[int, int, int, int]

# colours for classes that were given none (index 1, 2, ... cycle through these)
DEFAULT_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
)

IGNORE_INDEX = 255  # as segapp.core.project.IGNORE_INDEX (the canvas knows no project)
IGNORE_COLOR = (235, 235, 235)
HATCH = 3  # width of the ignore stripes, in image pixels

_EXTENDED = QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption
_PYRAMID_MIN_SIDE = 256  # stop halving below this size


def display_uint8(image: np.ndarray) -> np.ndarray:
    """An image for display: ``uint8`` passes through; ``uint16`` is scaled to 8 bit.

    The 16-bit range is the 0.5..99.5 percentile range (as ``imageio.to_uint8``), taken
    from a subsample of at most ~1M values and applied with a lookup table, so an
    8192x8192 image converts in one pass.
    """
    if image.dtype == np.uint8:
        return image
    if image.dtype != np.uint16:
        raise ValueError(f"the image must be uint8 or uint16, got {image.dtype}")
    step = max(1, int(math.sqrt(image.shape[0] * image.shape[1] / 1_000_000)))
    lo, hi = np.percentile(image[::step, ::step], (0.5, 99.5))
    if hi <= lo:
        hi = lo + 1
    lut = np.clip((np.arange(65536, dtype=np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
    return lut.astype(np.uint8)[image]


def _aligned(exposed: QRectF, bounds: QRect, pad: int = 1) -> QRect:
    """``exposed`` grown to whole pixels (plus ``pad``), clipped to ``bounds``."""
    return exposed.toAlignedRect().adjusted(-pad, -pad, pad, pad).intersected(bounds)


def _scale_of(painter: QPainter) -> float:
    """Screen pixels per scene unit: on a screen scaled by 2 a logical zoom of 30 % shows
    0.6 screen pixels per image pixel (so a half-size level would be drawn magnified)."""
    t = painter.worldTransform()
    device = painter.device()
    ratio = device.devicePixelRatioF() if device is not None else 1.0
    return (math.hypot(t.m11(), t.m12()) or 1.0) * max(1.0, ratio)


def display_levels(image: np.ndarray) -> list[np.ndarray]:
    """What :class:`ImageItem` draws: the image in Qt's layout, then halved down to ~256 px.

    Gray ``uint8`` is kept without a copy; RGB is converted once to Qt's 32-bit layout (fast
    to draw). Pure numpy/OpenCV (no Qt), so it may run in any thread: for an 8192x8192
    image it takes about as long as decoding the file.
    """
    img = display_uint8(np.asarray(image))
    if img.ndim == 2:
        arr = np.ascontiguousarray(img)
    else:
        arr = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGRA)
    levels = [arr]
    while min(arr.shape[:2]) // 2 >= _PYRAMID_MIN_SIDE:
        h, w = arr.shape[:2]
        arr = cv2.resize(arr, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        levels.append(arr)
    return levels


class ImageItem(QGraphicsItem):
    """The image at scene (0, 0), one scene unit per image pixel.

    ``image``: ``HxW`` or ``HxWx3`` (RGB), ``uint8`` or ``uint16``; ``levels``: its
    :func:`display_levels` when they were made already (e.g. in a loading thread).
    """

    def __init__(
        self,
        image: np.ndarray,
        parent: QGraphicsItem | None = None,
        levels: list[np.ndarray] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setFlag(_EXTENDED, True)
        self._h, self._w = np.asarray(image).shape[:2]
        # levels: (array kept alive for the QImage, QImage, scene units per level pixel x, y)
        self._levels: list[tuple[np.ndarray, QImage, float, float]] = []
        for arr in display_levels(image) if levels is None else levels:
            h, w = arr.shape[:2]
            self._levels.append((arr, self._qimage(arr), self._w / w, self._h / h))

    @staticmethod
    def _qimage(arr: np.ndarray) -> QImage:
        h, w = arr.shape[:2]
        if arr.ndim == 2:
            return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
        return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB32)

    @property
    def levels(self) -> int:
        return len(self._levels)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return QRectF(0, 0, self._w, self._h)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        scale = _scale_of(painter)
        level = 0
        if scale < 0.5:
            level = min(int(math.floor(math.log2(1.0 / scale) + 1e-6)), len(self._levels) - 1)
        arr, qimg, fx, fy = self._levels[level]
        src = _aligned(option.exposedRect, QRect(0, 0, self._w, self._h))  # type: ignore[attr-defined]
        if src.isEmpty():
            return
        painter.save()
        # smooth when shrinking; nearest when magnifying, so pixels stay visible
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale * fx < 0.999)
        _draw_clipped(painter, src, qimg, self.boundingRect())
        painter.restore()


def _draw_clipped(painter: QPainter, exposed: QRect, image: QImage, item: QRectF) -> None:
    """``image`` over the whole ``item``, clipped to ``exposed`` (item coordinates; a repaint
    costs the clipped region). Drawing only the exposed part of the image instead placed
    it at a fractional screen position that the zoom's rounding treated differently from
    the whole: at 141 % (or 100 % on a screen scaled by 1.5) a repainted band under the
    brush shifted by a screen pixel, and straight edges jogged."""
    painter.setClipRect(exposed, Qt.ClipOperation.IntersectClip)
    painter.drawImage(item, image)


class LabelOverlayItem(QGraphicsItem):
    """The label mask as a colour overlay, refreshed rectangle by rectangle.

    ``labels``: the document's ``HxW`` ``uint8`` class-index mask (read, never written).
    Call :meth:`refresh` with the rectangle a change reported (``None`` = all).
    """

    def __init__(self, labels: np.ndarray, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(_EXTENDED, True)
        self._labels = labels
        h, w = labels.shape
        self._w, self._h = w, h
        stride = (w + 3) & ~3
        self._buf = np.zeros((h, stride), np.uint8)
        self._view = self._buf[:, :w]
        self._image = QImage(self._buf.data, w, h, stride, QImage.Format.Format_Indexed8)
        self._outline = False
        self._outline_width = 1
        self._colors: list[tuple[int, int, int]] = []
        self._apply_colors()
        self.refresh(None)

    # ------------------------------------------------------------------ state

    @property
    def image(self) -> QImage:
        """The overlay image (``Indexed8``; ``image.pixel(x, y)`` is the shown ARGB)."""
        return self._image

    @property
    def buffer(self) -> np.ndarray:
        """The overlay's index buffer ``HxW`` (labels, or boundaries in outline mode)."""
        return self._view

    @property
    def outline(self) -> bool:
        return self._outline

    def set_colors(self, colors: Sequence[Sequence[int]]) -> None:
        """Colour per class index (``(r, g, b)``); index 0 is always transparent."""
        self._colors = [(int(c[0]), int(c[1]), int(c[2])) for c in colors]
        self._apply_colors()
        self.update()

    def color_of(self, index: int) -> tuple[int, int, int]:
        if 0 <= index < len(self._colors):
            return self._colors[index]
        return DEFAULT_PALETTE[(index - 1) % len(DEFAULT_PALETTE)]

    def _apply_colors(self) -> None:
        table = [0]
        for i in range(1, 256):
            r, g, b = IGNORE_COLOR if i == IGNORE_INDEX else self.color_of(i)
            table.append(QColor(r, g, b).rgba())
        self._image.setColorTable(table)

    def set_outline(self, on: bool, width: int | None = None) -> None:
        """Show only class boundaries (``width`` image pixels thick) instead of filled areas."""
        width = self._outline_width if width is None else max(1, int(width))
        if bool(on) == self._outline and width == self._outline_width:
            return
        self._outline, self._outline_width = bool(on), width
        self.refresh(None)

    # ------------------------------------------------------------------ updates

    def refresh(self, rect: Rect | None) -> None:
        """Re-read the labels in ``rect`` (x, y, w, h) -- or everywhere for ``None`` -- and repaint it."""
        if rect is None:
            rect = (0, 0, self._w, self._h)
        x, y, w, h = (int(v) for v in rect)
        if self._outline:
            x, y, w, h = self._refresh_outline(x, y, w, h)
        else:
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + w, self._w), min(y + h, self._h)
            if x1 <= x0 or y1 <= y0:
                return
            self._view[y0:y1, x0:x1] = self._labels[y0:y1, x0:x1]
            _hatch(self._view[y0:y1, x0:x1], x0, y0)
            x, y, w, h = x0, y0, x1 - x0, y1 - y0
        self.update(QRectF(x, y, w, h))

    def _refresh_outline(self, x: int, y: int, w: int, h: int) -> Rect:
        """Boundaries of the pixels within ``t`` of the rectangle, from labels within ``2t``."""
        t = self._outline_width
        ox0, oy0 = max(x - t, 0), max(y - t, 0)
        ox1, oy1 = min(x + w + t, self._w), min(y + h + t, self._h)
        ix0, iy0 = max(x - 2 * t, 0), max(y - 2 * t, 0)
        ix1, iy1 = min(x + w + 2 * t, self._w), min(y + h + 2 * t, self._h)
        if ox1 <= ox0 or oy1 <= oy0:
            return (ox0, oy0, 0, 0)
        lab = self._labels[iy0:iy1, ix0:ix1]
        kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
        # outside the image counts as background, so objects cut by the frame are closed
        lo = cv2.erode(lab, kernel, iterations=t, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        hi = cv2.dilate(lab, kernel, iterations=t)
        edges = np.where(lo != hi, lab, 0).astype(np.uint8)
        self._view[oy0:oy1, ox0:ox1] = edges[oy0 - iy0 : oy1 - iy0, ox0 - ix0 : ox1 - ix0]
        return (ox0, oy0, ox1 - ox0, oy1 - oy0)

    # ------------------------------------------------------------------ QGraphicsItem

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return QRectF(0, 0, self._w, self._h)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        src = _aligned(option.exposedRect, QRect(0, 0, self._w, self._h))  # type: ignore[attr-defined]
        if src.isEmpty():
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        _draw_clipped(painter, src, self._image, self.boundingRect())
        painter.restore()


def _hatch(view: np.ndarray, x0: int, y0: int) -> None:
    """Ignore pixels of ``view`` (at x0, y0 in the image) as diagonal stripes: every other
    band of HATCH pixels becomes transparent (index 0). Costs the rectangle, not the image."""
    ignore = view == IGNORE_INDEX
    if not ignore.any():
        return
    h, w = view.shape
    diagonal = np.add.outer(
        np.arange(y0, y0 + h, dtype=np.int32), np.arange(x0, x0 + w, dtype=np.int32)
    )
    view[ignore & ((diagonal // HATCH) % 2 == 1)] = 0


class BrushCursorItem(QGraphicsItem):
    """A circle showing the brush: ``radius`` in scene units, at least a few screen pixels."""

    MIN_SCREEN_RADIUS = 2.0

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self._radius = 1.0
        self._pixel = 1.0  # scene units per screen pixel
        self._color = QColor(255, 255, 255)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    @property
    def radius(self) -> float:
        return self._radius

    def set_shape(self, radius: float, pixel: float, color: QColor | None = None) -> None:
        """Set the radius (scene units) and the size of one screen pixel in scene units."""
        radius, pixel = float(radius), float(pixel)
        if radius != self._radius or pixel != self._pixel:
            self.prepareGeometryChange()
            self._radius, self._pixel = radius, pixel
        if color is not None and color != self._color:
            self._color = QColor(color)
            self.update()

    def _drawn_radius(self) -> float:
        return max(self._radius, self.MIN_SCREEN_RADIUS * self._pixel)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        r = self._drawn_radius() + 3 * self._pixel
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        r = self._drawn_radius()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        dark = QPen(QColor(0, 0, 0, 180), 3.0)
        dark.setCosmetic(True)
        painter.setPen(dark)
        painter.drawEllipse(QPointF(0, 0), r, r)
        light = QPen(self._color, 1.2)
        light.setCosmetic(True)
        painter.setPen(light)
        painter.drawEllipse(QPointF(0, 0), r, r)
        painter.restore()
