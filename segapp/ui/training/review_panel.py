"""The Training dock's Review tab (Model > Review masks): the corrected images whose masks the
active version disagrees with, worst first (:mod:`segapp.ml.agreement`), below the image.

The version proposes on every corrected image in a process of its own (``jobs.agreement``,
waited for by a Python thread; progress in the tab), and each row says how much of the
mask the proposal claims beyond it and misses, and whether the version learned from that
mask. A double-click opens the image above. The tab lives as long as the window (its
signals too, so a reading never reports to a deleted object); another project ends the
reading's process. A reading is kept for the version it read; once masks change, Read
again reads anew. The last column keeps the person's place in the list: it marks the
images opened since the project was opened ("opened") and the masks edited since the
reading ("edited"), whose figures are greyed as stale until Read scores them anew.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segapp.ml import versions
from segapp.ml.job_process import JobCancelled, JobProcess

if TYPE_CHECKING:
    from segapp.ui.labeling.session import LabelSession

COLUMNS = ("Image", "IoU", "Claimed beyond the mask", "Missed", "Trained on it", "Since")
SINCE = ("", "opened", "edited")  # the last column: what the person did to the row's image
STALE = Qt.GlobalColor.gray  # an edited mask's figures: read before the edit
INTRO = (
    "Read: the active version proposes on every corrected image, and the masks it disagrees "
    "with come first (Model > Review masks)."
)


class _Signals(QObject):
    progress = Signal(int, int, int)  # reading, done, total
    done = Signal(int, object)  # reading, [row dicts] worst first
    failed = Signal(int, str)  # reading, message


class ReviewPanel(QWidget):
    """The table of corrected images, worst agreement first; ``open_for_active`` reads."""

    def __init__(
        self,
        session: LabelSession,
        parent: QWidget | None = None,
        threshold: Callable[[], float] = lambda: 0.5,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.threshold = threshold  # the model panel's: the proposals as the window makes them
        self.asked = 0  # images the reading was asked for (those it could not read are left out)
        self.rows: list[dict] = []
        self.version: str | None = None
        self.reading = 0  # the latest reading's number: an older one's reports are dropped
        self.opened: set[str] = set()  # stems shown above since the project was opened
        self.edited: set[str] = set()  # stems whose labels changed since the reading
        self.busy = False
        self._process: JobProcess | None = None
        self._signals = _Signals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self.heading = QLabel(INTRO)
        self.heading.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.hide()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        rows = self.table.verticalHeader()
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)  # compact: many fit
        self.table.horizontalHeader().setStretchLastSection(True)
        # worst first (by IoU, as read; the arrow on IoU says so) until a header's click sorts
        # another way (kept across reads)
        self.table.horizontalHeader().setSortIndicator(1, Qt.SortOrder.AscendingOrder)
        self.table.cellDoubleClicked.connect(self._open_row)
        self.again = QPushButton("Read")
        self.again.setToolTip("the active version proposes on the corrected images (anew)")
        self.again.clicked.connect(lambda: self.open_for_active(force=True))
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.again)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.bar)
        lay.addWidget(self.table, 1)
        session.projectChanged.connect(lambda _p: self.reset())
        session.currentChanged.connect(self._on_current)
        session.documentEdited.connect(self._on_edited)

    def reset(self) -> None:
        """Another project: no reading, no rows."""
        self._stop()
        self.version, self.rows = None, []
        self.opened, self.edited = set(), set()
        self.table.setRowCount(0)
        self._say(INTRO)

    def open_for_active(self, force: bool = False) -> None:
        """Read the active version against the corrected masks (unless this version's
        reading is shown already and ``force`` is off)."""
        project = self.session.project
        version = versions.active_version(project) if project is not None else None
        if project is None or version is None:
            self._say("No trained version is active: train one (Ctrl+T) or make one active.")
            return
        if version.name == self.version and (self.rows or self.busy) and not force:
            return
        self.session.save_all()  # the masks as they are on screen
        stems = [e.stem for e in project.corrected()]
        self._stop()
        self.version, self.rows = version.name, []
        self.edited = set()  # the reading scores the masks as saved just now
        self.table.setRowCount(0)
        if not stems:
            self._say(f"No corrected image to compare {version.name} with yet.")
            return
        self.reading += 1
        self.busy, self.asked = True, len(stems)
        self.bar.setRange(0, len(stems))
        self.bar.setValue(0)
        self.bar.show()
        self.heading.setText(f"{version.name} proposes on the {len(stems)} corrected images…")
        process = self._process = JobProcess("Review masks' reading")
        args = {"project": str(project.root), "model": str(version.path), "stems": stems}
        args["threshold"] = self.threshold()
        threading.Thread(target=self._read, args=(process, args, self.reading), daemon=True).start()

    def _read(self, process: JobProcess, args: dict, reading: int) -> None:
        """In a Python thread: it touches only the signals, which live as long as the window."""
        signals = self._signals

        def emit(signal, *args) -> None:
            with contextlib.suppress(RuntimeError):  # the window closed as the reading ended
                signal.emit(reading, *args)

        def on_event(event: dict) -> None:
            if event.get("event") == "progress":
                emit(signals.progress, int(event["done"]), int(event["total"]))

        try:
            rows, _ = process.run("agreement", args, (), on_event)
        except JobCancelled:
            return
        except Exception as e:  # noqa: BLE001 - said in the dialog
            emit(signals.failed, str(e))
            return
        finally:
            process.close()
        emit(signals.done, rows)

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process = None
        if self.busy:  # a reading cut short is read again on the next open
            self.busy, self.version = False, None

    def _say(self, text: str) -> None:
        self.heading.setText(text)
        self.bar.hide()

    def _on_progress(self, reading: int, done: int, total: int) -> None:
        if reading == self.reading:
            self.bar.setValue(done)

    def _on_failed(self, reading: int, message: str) -> None:
        if reading == self.reading:
            self.busy, self.version = False, None
            self._say(f"Could not compare the version with the masks: {message}")

    def _on_done(self, reading: int, rows: list[dict]) -> None:
        if reading != self.reading:
            return
        self.busy, self.rows = False, rows
        self.table.setSortingEnabled(False)  # filled in the reading's order, worst first
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = (
                (row["stem"], r),  # sorted by the image column: back to the reading's order
                (f"{row['iou']:.3f}", row["iou"]),
                (f"{100 * row['claimed']:.0f} %", row["claimed"]),
                (f"{100 * row['missed']:.0f} %", row["missed"]),
                ("yes" if row["trained"] else "no", row["trained"]),
                ("", 0),  # since: set by _mark
            )
            for c, (text, value) in enumerate(cells):
                item = _Cell(text, value)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, c, item)
            self._mark(r, row["stem"])
        self.table.setSortingEnabled(True)  # a header's click sorts by its numbers
        self.table.resizeColumnsToContents()  # (after: the headers' widths hold the arrow)
        self._say(self._summary())

    def _summary(self) -> str:
        rows = self.rows
        low = sum(1 for row in rows if row["iou"] < 0.8)
        agree = "agrees" if low == 1 else "agree"
        unread = self.asked - len(rows)
        unread_note = f" ({unread} could not be read)" if unread > 0 else ""
        listed = {row["stem"] for row in rows}
        edited = len(self.edited & listed)
        edited_note = (
            f" {edited} {'mask' if edited == 1 else 'masks'} edited since this reading "
            "(greyed): Read scores them anew."
            if edited
            else ""
        )
        return (
            f"{self.version} against the {len(rows)} corrected masks{unread_note}, worst "
            f"first: {low} "
            f"{agree} less than 0.8 IoU. A mask the version trained on and still disagrees "
            "with is often drawn unlike the others (a part left out here, taken in there) or "
            "has a slip; double-click to open it. Claimed and missed: shares of its area."
            f"{edited_note}"
        )

    def _row_of(self, stem: str) -> int | None:
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.text() == stem:
                return r
        return None

    def _mark(self, r: int, stem: str) -> None:
        """Row ``r`` (image ``stem``) says whether it was opened or edited; an edit greys
        its figures, read before it."""
        since = 2 if stem in self.edited else 1 if stem in self.opened else 0
        item = self.table.item(r, len(COLUMNS) - 1)
        if item is None or item.value == since:
            return
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)  # or setting a sorted column's value moves the row
        item.setText(SINCE[since])
        item.value = since
        if since == 2:
            for c in range(1, len(COLUMNS) - 1):
                cell = self.table.item(r, c)
                if cell is not None:
                    cell.setForeground(STALE)
                    cell.setToolTip("read before the mask was edited: Read scores it anew")
        self.table.setSortingEnabled(sorting)

    def _on_current(self, stem: str) -> None:
        if stem and self.session.project is not None:
            self.opened.add(stem)
            r = self._row_of(stem)
            if r is not None:
                self._mark(r, stem)

    def _on_edited(self) -> None:
        stem = self.session.current
        if not stem or stem in self.edited or self.version is None:
            return
        self.edited.add(stem)
        r = self._row_of(stem)
        if r is not None:
            self._mark(r, stem)
            if not self.busy:
                self._say(self._summary())

    def _open_row(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)  # the rows may be sorted another way
        if item is not None:
            self.session.select(item.text())


class _Cell(QTableWidgetItem):
    """A cell that sorts by its value, not its text ("9 %" before "33 %")."""

    def __init__(self, text: str, value: float) -> None:
        super().__init__(text)
        self.value = value

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.value < getattr(other, "value", 0)
