"""File > Import… and File > Export…: dialogs over ``segapp.interop.run``, the code path of
``segapp import`` and ``segapp export``, run off the GUI thread with a progress dialog.

An import into the project open in the window first saves and closes it (the import is the
project's one writer meanwhile), then opens the result; Cancel keeps what was imported so
far. An export saves the open edits first, reads the project from disk and writes a new
folder (a cancelled or failed export leaves nothing behind).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from segapp.interop import IMPORT_FORMATS
from segapp.interop.progress import Cancelled
from segapp.interop.run import IMPORT_OPTIONS, PROJECT_EXPORTS, ImportOptions
from segapp.ui.labeling.session import LabelSession
from segapp.ui.tasks import Task, run_task

EXPORT_FORMAT_KEY, EXPORT_FOLDER_KEY = "export/format", "export/folder"  # QSettings
SUMMARY_NAME = "interopSummary"  # the one "Import finished" / "Export finished" box open

SOURCES = {  # what SRC is, per format (a file or a folder)
    "labelme": ("a folder of labelme JSON files", "folder"),
    "coco": ("a COCO annotations JSON file", "file"),
    "voc": ("a VOC folder (JPEGImages/, SegmentationClass/)", "folder"),
    "yolo": ("a YOLO folder (images/, labels/, data.yaml)", "folder"),
    "folders": ("the folder holding an images folder and a masks folder", "folder"),
}


class InteropHost(Protocol):
    """What the dialogs need from the window."""

    session: LabelSession
    settings: QSettings

    def open_path(self, path: str | Path) -> bool: ...
    def show_error(self, title: str, text: str) -> None: ...


def _path_row(edit: QLineEdit, browse: Callable[[], None]) -> QWidget:
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    lay.addWidget(button)
    return row


def _add_buttons(dialog: QDialog, form: QFormLayout, ok_text: str) -> QPushButton:
    """OK (named ``ok_text``) and Cancel under the form; returns the OK button."""
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(ok_text)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    return ok


class ImportDialog(QDialog):
    """Format, source, destination project and the format's options."""

    def __init__(self, parent: QWidget | None, project: Path | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import annotations")
        self.format = QComboBox()
        self.format.addItems(list(IMPORT_FORMATS))
        self.src, self.dest = QLineEdit(), QLineEdit(str(project or ""))
        self.src.setObjectName("importSource")
        self.hint = QLabel()
        self.labels, self.images, self.masks = QLineEdit(), QLineEdit(), QLineEdit()
        self.suffix = QLineEdit()
        self.labels.setPlaceholderText("labels.txt in the folder, when there is one")
        self.images.setPlaceholderText("images")
        self.masks.setPlaceholderText("masks")
        self.suffix.setPlaceholderText("e.g. _mask")
        self.link = QCheckBox("Link the images instead of copying them")
        self.overwrite = QCheckBox("Replace corrected masks that differ from the import")
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Source", _path_row(self.src, self._browse_src))
        form.addRow("", self.hint)
        form.addRow("Into project", _path_row(self.dest, self._browse_dest))
        form.addRow("Class names", _path_row(self.labels, self._browse_labels))
        form.addRow("Images folder", self.images)
        form.addRow("Masks folder", self.masks)
        form.addRow("Mask suffix", self.suffix)
        form.addRow("", self.link)
        form.addRow("", self.overwrite)
        self._ok = _add_buttons(self, form, "Import")
        self.format.currentTextChanged.connect(self._update)
        self.src.textChanged.connect(self._update)
        self.dest.textChanged.connect(self._update)
        self._update()
        self.resize(620, self.sizeHint().height())

    def values(self) -> tuple[str, str, str, ImportOptions]:
        """(format, source, project, options) as entered."""
        fmt = self.format.currentText()
        on = {k: fmt in formats for k, formats in IMPORT_OPTIONS.items()}
        options = ImportOptions(
            labels=Path(self.labels.text()) if on["labels"] and self.labels.text() else None,
            images=(self.images.text() or None) if on["images"] else None,
            masks=(self.masks.text() or None) if on["masks"] else None,
            mask_suffix=self.suffix.text() if on["mask_suffix"] else "",
            link=self.link.isChecked(),
            overwrite=self.overwrite.isChecked(),
        )
        return fmt, self.src.text().strip(), self.dest.text().strip(), options

    def _update(self) -> None:
        fmt = self.format.currentText()
        self.hint.setText(f"<small>{SOURCES[fmt][0]}</small>")
        for key, edit in (("labels", self.labels), ("images", self.images)):
            edit.setEnabled(fmt in IMPORT_OPTIONS[key])
        self.masks.setEnabled(fmt in IMPORT_OPTIONS["masks"])
        self.suffix.setEnabled(fmt in IMPORT_OPTIONS["mask_suffix"])
        self._ok.setEnabled(bool(self.src.text().strip() and self.dest.text().strip()))

    def _browse_src(self) -> None:
        what, kind = SOURCES[self.format.currentText()]
        if kind == "file":
            path, _ = QFileDialog.getOpenFileName(self, what, "", "JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, what)
        if path:
            self.src.setText(path)

    def _browse_dest(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "A project, or a new (empty) folder")
        if path:
            self.dest.setText(path)

    def _browse_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Class names", "", "Text (*.txt)")
        if path:
            self.labels.setText(path)


def fresh_folder(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name-2``, ``name-3`` … when that exists (an export needs a new
    folder)."""
    path, n = folder / name, 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{n}"
    return path


class ExportDialog(QDialog):
    """Format, destination folder (new), polygons (COCO), proposals too. The format and the
    folder the last export went into come back (``settings``), with a name not yet taken."""

    def __init__(self, parent: QWidget | None, project: Path, settings=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export masks")
        self.project, self.settings = project, settings
        self.format = QComboBox()
        self.format.addItems(list(PROJECT_EXPORTS))
        last = str(settings.value(EXPORT_FORMAT_KEY, "")) if settings is not None else ""
        if last in PROJECT_EXPORTS:
            self.format.setCurrentText(last)
        folder = Path(str(settings.value(EXPORT_FOLDER_KEY, ""))) if settings is not None else None
        self.folder = folder if folder and folder.name and folder.is_dir() else project.parent
        self.dest = QLineEdit()
        self._suggest()
        self._named = False  # True once the person typed or browsed a destination
        self.dest.textEdited.connect(self._typed)
        self.polygons = QCheckBox("Polygons instead of RLE (COCO)")
        self.proposed = QCheckBox("Also export proposals nobody corrected yet")
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Into a new folder", _path_row(self.dest, self._browse))
        form.addRow("", self.polygons)
        form.addRow("", self.proposed)
        _add_buttons(self, form, "Export")
        self.format.currentTextChanged.connect(self._on_format)
        self.polygons.setEnabled(self.format.currentText() == "coco")
        self.resize(560, self.sizeHint().height())

    def values(self) -> tuple[str, str, bool, bool]:
        fmt = self.format.currentText()
        polygons = self.polygons.isChecked() and fmt == "coco"
        return fmt, self.dest.text().strip(), polygons, self.proposed.isChecked()

    def remember(self) -> None:
        """Keep the format and the destination's folder for the next export."""
        if self.settings is None:
            return
        fmt, dest, _, _ = self.values()
        self.settings.setValue(EXPORT_FORMAT_KEY, fmt)
        if dest:
            self.settings.setValue(EXPORT_FOLDER_KEY, str(Path(dest).expanduser().parent))

    def _suggest(self) -> None:
        name = f"{self.project.name}-{self.format.currentText()}"
        self.dest.setText(str(fresh_folder(self.folder, name)))

    def _typed(self, _text: str) -> None:
        self._named = True

    def _on_format(self, fmt: str) -> None:
        self.polygons.setEnabled(fmt == "coco")
        if not self._named:
            self._suggest()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export into a new folder", self.dest.text())
        if path:
            self.dest.setText(path)
            self._named = True


class InteropJob(QObject):
    """One import or export in a thread, shown in a progress dialog with Cancel."""

    _progress = Signal(int)
    finished = Signal()

    def __init__(self, window: QWidget, title: str, total: int = 0) -> None:
        super().__init__(window)
        self.cancel_requested = threading.Event()
        self.dialog = QProgressDialog(f"{title}…", "Cancel", 0, total, window)
        self.dialog.setWindowTitle(title)
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(300)  # quick jobs show no dialog at all
        self.dialog.canceled.connect(self.cancel_requested.set)
        self._progress.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self.title, self.total = title, total
        self.task: Task | None = None
        self.summary: QMessageBox | None = None  # what it did, once done (non-modal)

    def progress(self, done: int) -> None:
        """The interop callback (worker thread): report, or stop when cancelled."""
        if self.cancel_requested.is_set():
            raise Cancelled
        self._progress.emit(done)

    def _show(self, done: int) -> None:
        if self.total:
            self.dialog.setValue(min(done, self.total))
        self.dialog.setLabelText(f"{self.title}: {done} images")

    def tell(self, title: str, text: str) -> None:
        """The summary, in a box that does not block the window; it replaces the last
        job's (three finished exports left three boxes open)."""
        window: QWidget = self.parent()  # type: ignore[assignment]
        for old in window.findChildren(QMessageBox, SUMMARY_NAME):
            old.close()
        box = QMessageBox(
            QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, window
        )
        box.setObjectName(SUMMARY_NAME)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.summary = box

    def start(self, fn: Callable[[], object], on_done, on_error) -> None:
        def done(result) -> None:
            self.dialog.reset()
            on_done(result)
            self.finished.emit()

        def failed(message: str) -> None:
            self.dialog.reset()
            on_error(message)
            self.finished.emit()

        self.dialog.setValue(0)
        self.task = run_task(self, fn, done, failed, "interop")


def ask_import(window: InteropHost) -> InteropJob | None:
    """File > Import…: the dialog, then the import."""
    session = window.session
    current = session.project.root if session.project is not None else None
    dialog = ImportDialog(window, current)  # type: ignore[arg-type]
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return start_import(window, *dialog.values())


def start_import(
    window: InteropHost, fmt: str, src: str, dest: str, options: ImportOptions
) -> InteropJob | None:
    """Run ``segapp import fmt src dest`` in a thread; the result opens in the window."""
    from segapp.interop.run import run_import

    session = window.session
    previous = session.project.root if session.project is not None else None
    target = Path(dest).expanduser().absolute()
    if previous is not None and target.resolve() == previous and not session.close_project():
        return None  # edits that could not be saved, and the person kept them
    job = InteropJob(window, "Importing")  # type: ignore[arg-type]

    def done(report) -> None:
        window.open_path(target)
        text = "\n".join(report.lines())
        if report.skipped:
            skipped = [f"{name}: {why}" for name, why in report.skipped[:10]]
            more = len(report.skipped) - 10
            text += f"\n\n{len(report.skipped)} files skipped:\n" + "\n".join(skipped)
            text += f"\n… and {more} more" if more > 0 else ""
        job.tell("Import finished", text)

    def failed(message: str) -> None:
        if previous is not None and session.project is None:
            window.open_path(previous)
        window.show_error("Import failed", message)

    job.start(lambda: run_import(fmt, src, target, options, job.progress), done, failed)
    return job


def ask_export(window: InteropHost) -> InteropJob | None:
    """File > Export…: the dialog, then the export."""
    if window.session.project is None:
        return None
    root = window.session.project.root
    dialog = ExportDialog(window, root, window.settings)  # type: ignore[arg-type]
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    dialog.remember()
    return start_export(window, *dialog.values())


def start_export(
    window: InteropHost, fmt: str, dest: str, polygons: bool = False, proposed: bool = False
) -> InteropJob | None:
    """Run ``segapp export fmt PROJECT dest`` in a thread (the open edits saved first)."""
    from segapp.interop.common import exported_entries
    from segapp.interop.run import run_export

    session = window.session
    if session.project is None:
        return None
    if session.save_all():
        return None  # said already (a dialog); nothing half-saved is exported
    root = session.project.root
    total = len(exported_entries(session.project, proposed))
    job = InteropJob(window, "Exporting", total)  # type: ignore[arg-type]

    def done(report) -> None:
        text = "\n".join(report.lines())
        if report.skipped:
            text += f"\n\n{len(report.skipped)} images skipped (unreadable): " + ", ".join(
                name for name, _ in report.skipped[:10]
            )
        job.tell("Export finished", text)

    def failed(message: str) -> None:
        if job.cancel_requested.is_set():
            session.message.emit("export cancelled; nothing was written")
        else:
            window.show_error("Export failed", message)

    job.start(lambda: run_export(fmt, root, dest, polygons, proposed, job.progress), done, failed)
    return job
