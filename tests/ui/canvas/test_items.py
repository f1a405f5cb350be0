"""The canvas's image and overlay items as drawn on a screen, scaled or not."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPainter

from segapp.ui.canvas.items import ImageItem, _scale_of


def _painter_on(ratio: float) -> tuple[QImage, QPainter]:
    image = QImage(200, 200, QImage.Format.Format_RGB32)
    image.setDevicePixelRatio(ratio)
    return image, QPainter(image)


def test_the_zoom_is_counted_in_screen_pixels(qapp):
    """At a logical 30 % a screen scaled by 2 shows 0.6 screen pixels per image pixel: the
    half-size level (chosen below 50 %) was drawn magnified, softer than the screen allows."""
    for ratio, expected in ((1.0, 0.3), (2.0, 0.6)):
        image, painter = _painter_on(ratio)
        painter.scale(0.3, 0.3)
        assert abs(_scale_of(painter) - expected) < 1e-9
        painter.end()


def test_a_scaled_screen_draws_the_full_resolution_level_at_30_percent(qapp, monkeypatch):
    item = ImageItem(np.zeros((1024, 1024), np.uint8))
    assert item.levels >= 2
    drawn = []
    monkeypatch.setattr(
        "segapp.ui.canvas.items._draw_clipped", lambda p, src, img, rect: drawn.append(img.width())
    )
    from PySide6.QtWidgets import QStyleOptionGraphicsItem

    for ratio in (1.0, 2.0):
        image, painter = _painter_on(ratio)
        painter.scale(0.3, 0.3)
        option = QStyleOptionGraphicsItem()
        option.exposedRect = item.boundingRect()
        item.paint(painter, option)
        painter.end()
    assert drawn == [512, 1024]
