"""The project's model versions: a table, which one is active, and comparing two on an image.

Columns: name, base model, training images, val IoU, created, and how its proposals fared
(``versions.proposal_stats``: images corrected since it proposed them, mean IoU between
proposal and correction; ``versions.effort_stats``: mean clicks, strokes and active seconds
it took to correct one). Beside the table, a plot of those seconds per mask across the
versions (``effort_plot``). "Make active" switches the proposing model (back and forth).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segapp.core.imageio import SegappError
from segapp.core.project import Project
from segapp.ml import unfinished, versions

log = logging.getLogger(__name__)

COLUMNS = (
    *("Version", "Base model", "Images", "Val IoU", "Created", "Corrected", "Proposal IoU"),
    *("Clicks/mask", "Strokes/mask", "Seconds/mask"),
)
_PER_MASK = "per corrected image it proposed (images with a recorded effort)"
TIPS = {
    "Images": "images it was trained on",
    "Val IoU": "IoU on its validation images at its best epoch",
    "Corrected": "its proposals that were corrected and saved since",
    "Proposal IoU": "mean IoU between its proposals and the corrected masks",
    "Clicks/mask": f"mean Click tool clicks {_PER_MASK}",
    "Strokes/mask": f"mean brush and eraser strokes {_PER_MASK}",
    "Seconds/mask": f"mean active seconds (input within the last 30 s) {_PER_MASK}",
}

# () -> (stem, image) of the image on the canvas, or None
ImageProvider = Callable[[], "tuple[str, np.ndarray] | None"]


def _base_text(v: versions.ModelVersion) -> str:
    """'unet-small' for a preset, 'v001 (unet-small)' for a fine-tuned version."""
    base = v.base_model
    if "/" in base or "\\" in base:
        base = Path(base).name
    return base if not v.preset or base == v.preset else f"{base} ({v.preset})"


def _effort_cells(e: versions.EffortStats) -> tuple[str, str, str]:
    """Clicks, strokes and seconds per mask as the table shows them."""
    return f"{e.clicks:.1f}", f"{e.strokes:.1f}", f"{e.seconds:.0f}"


class VersionsPanel(QWidget):
    activeModelChanged = Signal(str)  # checkpoint folder of the version made active
    message = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.image_provider: ImageProvider | None = None
        self.device = "auto"
        self.dialog = None
        self.versions: list[versions.ModelVersion] = []
        self.effort: dict[str, versions.EffortStats] = {}
        self.plot = None  # EffortPlot, built when first shown (pyqtgraph imports slowly)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("versionsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for i, name in enumerate(COLUMNS):
            if name in TIPS:
                self.table.horizontalHeaderItem(i).setToolTip(TIPS[name])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.make_active())
        self.active_btn = QPushButton("Make active")
        self.active_btn.setToolTip("propose with the selected version from now on")
        self.active_btn.clicked.connect(self.make_active)
        self.compare_btn = QPushButton("Compare on this image…")
        self.compare_btn.setToolTip(
            "the selected version and the active one (or another) on the current image"
        )
        self.compare_btn.clicked.connect(self.compare)
        self.info = QLabel()
        self.info.setStyleSheet("color: #555")
        self.info.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.active_btn)
        buttons.addWidget(self.compare_btn)
        buttons.addWidget(self.info, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.plot_area = QHBoxLayout()
        self.plot_area.addWidget(self.table, 1)
        lay.addLayout(self.plot_area, 1)
        lay.addLayout(buttons)
        self.refresh()

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.refresh()

    # ------------------------------------------------------------------ table
    def refresh(self) -> None:
        project = self.project
        selected = self.selected()
        self.versions = versions.list_versions(project) if project else []
        active = versions.active_version(project, self.versions) if project else None
        stats = versions.proposal_stats(project) if project else {}
        self.effort = versions.effort_stats(project) if project else {}
        self.table.setRowCount(len(self.versions))
        bold = QFont()
        bold.setBold(True)
        for row, v in enumerate(reversed(self.versions)):  # newest first
            is_active = active is not None and v.name == active.name
            n_corr, mean_iou = stats.get(v.name, (0, None))
            effort = self.effort.get(v.name)
            # "stopped after 14 of 34 steps", or ""; (12, 96): the budget took 12 of 96 steps
            ending, share = unfinished.run_marks(v)
            tag = ending.split()[0] if ending else f"{share[0]}/{share[1]} steps" if share else ""
            cells = (
                ("● " if is_active else "") + v.name + (f" ({tag})" if tag else ""),
                _base_text(v),
                str(v.images),
                "" if v.val_iou is None else f"{v.val_iou:.3f}",
                v.created[:16].replace("T", " "),
                str(n_corr) if n_corr else "—",
                "—" if mean_iou is None else f"{mean_iou:.3f}",
                *(_effort_cells(effort) if effort else ("—",) * 3),
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, v.name)
                if col >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                tips = [f"its run {ending}"] if ending else []
                if share:
                    tips.append(
                        f"its run took {share[0]} of the {share[1]} steps planned: the time "
                        "budget ended it (a longer budget in the Train tab trains more)"
                    )
                if is_active:
                    item.setFont(bold)
                    tips.insert(0, f"{v.name} is the active model: it makes the proposals")
                if tips:
                    item.setToolTip("; ".join(tips))
                self.table.setItem(row, col, item)
        if selected:
            self.select(selected)
        if self.plot is not None:
            self._update_plot()
        if not self.versions:
            self.info.setText("No versions yet: train one in the Train tab.")
        else:
            self.info.setText(f"active: {active.name}" if active else "no active version")
        self._update_buttons()

    def ensure_plot(self):
        """The seconds-per-mask plot beside the table (built on first use)."""
        if self.plot is None:
            from segapp.ui.training.effort_plot import EffortPlot

            self.plot = EffortPlot()
            self.plot_area.addWidget(self.plot)
            self._update_plot()
        return self.plot

    def _update_plot(self) -> None:
        seconds = [e.seconds if (e := self.effort.get(v.name)) else None for v in self.versions]
        self.plot.set_points([v.name for v in self.versions], seconds)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        QTimer.singleShot(0, self.ensure_plot)

    def select(self, name: str) -> bool:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == name:
                self.table.selectRow(row)
                return True
        return False

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)

    def _version(self, name: str | None) -> versions.ModelVersion | None:
        return next((v for v in self.versions if v.name == name), None)

    def _update_buttons(self) -> None:
        name = self.selected()
        active = versions.active_version(self.project, self.versions) if self.project else None
        self.active_btn.setEnabled(name is not None and (active is None or active.name != name))
        self.compare_btn.setEnabled(name is not None and len(self.versions) >= 2)

    # ------------------------------------------------------------------ actions
    def make_active(self) -> None:
        v = self._version(self.selected())
        if v is None or self.project is None:
            return
        try:
            versions.set_active(self.project, v.name)
        except SegappError as e:
            self.message.emit(f"could not record the active version: {e}")
            return
        self.refresh()
        self.message.emit(f"{v.name} is now the active model")
        self.activeModelChanged.emit(str(v.path))

    def compare(self) -> None:
        """Open the comparison of the selected version with the active one (or the next)."""
        from segapp.ui.training.compare_dialog import CompareDialog

        name = self.selected()
        current = self.image_provider() if self.image_provider else None
        if name is None or self.project is None or current is None:
            self.message.emit("select a version and open an image to compare on")
            return
        if len(self.versions) < 2:
            return
        stem, image = current
        active = versions.active_version(self.project, self.versions)
        others = [v.name for v in reversed(self.versions) if v.name != name]
        other = active.name if active is not None and active.name != name else others[0]
        reference = None
        entry = self.project.entry(stem)
        if entry.status == "corrected" and entry.has_mask:
            try:
                reference = self.project.read_labels(entry, image.shape[:2])
            except SegappError:
                reference = None
        if self.dialog is not None:
            self.dialog.close()
        dialog = CompareDialog(
            [(v.name, v.path) for v in reversed(self.versions)],
            name,
            other,
            stem,
            image,
            [tuple(c.color) for c in self.project.classes],
            reference,
            self.device,
            self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        key = id(dialog)
        dialog.destroyed.connect(lambda *_a: self._forget_dialog(key))
        self.dialog = dialog
        dialog.show()

    def _forget_dialog(self, key: int) -> None:
        if self.dialog is not None and id(self.dialog) == key:
            self.dialog = None
