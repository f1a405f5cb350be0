"""The side panels (Model, Classes) in a vertical scroll area: a low window scrolls them
instead of cutting their text and tables, and they are never narrower than they need."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


class SideScroll(QScrollArea):
    """Scrolls ``widget`` up and down only; as wide as its minimum (plus the scroll bar)."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        inner = self.widget().minimumSizeHint()
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(inner.width() + bar, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        inner = self.widget().sizeHint()
        width = max(inner.width(), self.widget().minimumSizeHint().width())
        return QSize(width + self.verticalScrollBar().sizeHint().width(), inner.height())
