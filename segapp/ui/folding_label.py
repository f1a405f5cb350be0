"""A word-wrapped message line that takes no room while it says nothing."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget


class FoldingLabel(QLabel):
    """A word-wrapped ``QLabel`` hidden while its text is empty, so the lines below it (a
    panel's plots) keep that room in a low dock."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        super().setText(text)
        self.setHidden(not text)
