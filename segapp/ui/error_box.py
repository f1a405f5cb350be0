"""The window's error reports: a line in the status bar and a dialog that does not block.

A mixin of :class:`~segapp.ui.main_window.MainWindow` (a QMainWindow): it keeps the last
report in ``last_error`` and the dialog on screen in ``error_box``, one at a time.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

log = logging.getLogger("segapp.ui.main_window")  # where the window's reports were logged


class ErrorBoxMixin:
    """``show_error(title, text)`` for the main window."""

    last_error: tuple[str, str] | None
    error_box: QMessageBox | None

    def show_error(self, title: str, text: str) -> None:
        """Status bar + a non-blocking dialog."""
        log.warning("%s: %s", title, text)
        self.last_error = (title, text)
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}", 15000)
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)  # keep working meanwhile
        box.finished.connect(lambda _r, b=box: self._forget_box(b))
        self.error_box = box
        box.show()

    def _forget_box(self, box: QMessageBox) -> None:
        if self.error_box is box:
            self.error_box = None
