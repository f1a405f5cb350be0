"""Autosave: the current mask is written a moment after the last edit.

Switching images and closing save too; this covers a crash or a power cut in between, so
at most the edit of the last ``delay_ms`` (or the stroke still in progress) is lost. A
failed autosave says so in the status bar and keeps the edits in memory; Ctrl+S shows the
full message.

A save costs the mask PNG and one line appended to the status journal (``core.journal``),
not a rewrite of segapp.json, so it stays as cheap at 10,000 images as at ten
(benchmarks/bench_autosave.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

if TYPE_CHECKING:
    from segapp.ui.labeling.session import LabelSession

AUTOSAVE_MS = 1500


class Autosaver(QObject):
    def __init__(self, session: LabelSession, delay_ms: int = AUTOSAVE_MS) -> None:
        super().__init__(session)
        self.session = session
        self.timer = QTimer(self, singleShot=True, interval=delay_ms)
        self.timer.timeout.connect(self.save_now)
        session.documentEdited.connect(self.timer.start)  # every edit restarts the wait

    def save_now(self) -> None:
        ds = self.session.state
        if ds is None or not ds.doc.dirty:
            return
        if ds.doc.history.pending:  # a stroke in progress: wait for its end
            self.timer.start()
            return
        if not self.session.save(report=False):
            self.session.message.emit(
                f"autosave of {ds.entry.stem} failed; the edits are kept in memory "
                "(Ctrl+S says why)"
            )
