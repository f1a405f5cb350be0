"""A slider that a click on its track moves to the point clicked (Qt's default moves it one
page step towards the click: a click at 0.9 of the threshold's track went to 0.60)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProxyStyle, QSlider, QStyle, QStyleOption, QWidget


class _JumpStyle(QProxyStyle):
    def styleHint(  # noqa: N802 (Qt API)
        self,
        hint: QStyle.StyleHint,
        option: QStyleOption | None = None,
        widget: QWidget | None = None,
        data=None,
    ) -> int:
        if hint == QStyle.StyleHint.SH_Slider_AbsoluteSetButtons:
            return Qt.MouseButton.LeftButton.value
        return super().styleHint(hint, option, widget, data)


def jump_slider(orientation: Qt.Orientation = Qt.Orientation.Horizontal) -> QSlider:
    """A ``QSlider`` that jumps to where its track is clicked and follows the drag from there."""
    slider = QSlider(orientation)
    style = _JumpStyle()  # the application's style, this hint changed
    style.setParent(slider)  # lives as long as the slider
    slider.setStyle(style)
    return slider
