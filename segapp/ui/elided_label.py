"""Status-bar text that ends in "…" where it does not fit, whole in its tooltip: a one-line
label (``ElidedLabel``) and the status bar's own messages (``ElidingStatusBar``)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QStatusBar, QStyle, QStyleOption, QWidget

MIN_WIDTH = 80  # px it may shrink to, so the status bar's messages keep room


class ElidedLabel(QLabel):
    """``setText`` keeps the whole text (``full_text``, and the tooltip); the label shows as
    much as its width allows, at most ``max_width`` px."""

    def __init__(self, text: str = "", max_width: int = 380, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setMaximumWidth(max_width)
        self.setMinimumWidth(MIN_WIDTH)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        self._full = text
        self.setToolTip(text)
        self._elide()
        self.updateGeometry()

    def full_text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        width = self.fontMetrics().horizontalAdvance(self._full) + 8
        return QSize(min(width, self.maximumWidth()), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(MIN_WIDTH, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.width() if self.isVisible() else self.maximumWidth()
        metrics = self.fontMetrics()
        super().setText(metrics.elidedText(self._full, Qt.TextElideMode.ElideRight, width - 4))


class ElidingStatusBar(QStatusBar):
    """A status bar whose message, where it is longer than the room left of the permanent
    widgets, ends in "…" instead of being cut mid-word; the tooltip holds it whole."""

    MARGIN = 6  # px, as QStatusBar leaves around its message

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.messageChanged.connect(self._set_tooltip)

    def _set_tooltip(self, message: str) -> None:  # a Python slot: PySide cannot call the setter
        self.setToolTip(message)

    def _shown_widgets(self) -> list[QWidget]:
        """The widgets beside the message (while one shows: the permanent ones, the grip)."""
        children = self.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
        return [w for w in children if w.isVisible() and not w.isWindow()]

    def message_rect(self) -> QRect:
        """Where the message is drawn: from the left edge to the first widget shown beside it."""
        right = min((w.geometry().left() for w in self._shown_widgets()), default=self.width())
        return QRect(self.MARGIN, 0, max(0, right - 2 * self.MARGIN), self.height())

    def shown_message(self) -> str:
        """The message as drawn: cut with "…" to ``message_rect``'s width."""
        mode = Qt.TextElideMode.ElideRight
        return self.fontMetrics().elidedText(
            self.currentMessage(), mode, self.message_rect().width()
        )

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        if not self.currentMessage():
            super().paintEvent(event)
            return
        # what QStatusBar paints, with the message elided
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelStatusBar, option, painter, self)
        for w in self._shown_widgets():
            frame = QStyleOption()
            frame.rect = w.geometry().adjusted(-2, -1, 2, 1)
            frame.palette = self.palette()
            element = QStyle.PrimitiveElement.PE_FrameStatusBarItem
            self.style().drawPrimitive(element, frame, painter, w)
        painter.setPen(self.palette().windowText().color())
        align = Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter
        flags = align | Qt.TextFlag.TextSingleLine
        painter.drawText(self.message_rect(), flags, self.shown_message())
