"""The class panel: the project's classes (binary by default), which one the brush paints.

Rows are class indices (0 = background). Double-click a name to rename it, the colour
swatch to recolour it; "Add class" turns a binary project into a multi-class one. The
number keys (wired by the window) pick the class of the same index. A last row, "Ignore",
paints the ignore value 255 ("not labelled here": losses and scores skip it; the canvas
hatches it), in every project that stores no class as 255.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from segapp.core.classes import DEFAULT_COLORS
from segapp.core.project import IGNORE_INDEX
from segapp.ui.labeling.session import LabelSession


class ClassPanel(QGroupBox):
    classPicked = Signal(int)

    def __init__(self, session: LabelSession, parent=None) -> None:
        super().__init__("Classes", parent)
        self.session = session
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("classTable")
        self.table.setHorizontalHeaderLabels(["key", "", "name"])
        self.table.verticalHeader().setVisible(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(1, 26)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked)
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.table.currentCellChanged.connect(self._on_row)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        self.table.itemChanged.connect(self._on_item_changed)
        self.add_btn = QPushButton("Add class…")
        self.add_btn.clicked.connect(self._ask_add)
        self.protect = QCheckBox("Protect other classes")
        self.protect.setToolTip("brush, eraser and fill only touch background and the active class")
        self.protect.toggled.connect(session.set_protect_others)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        row = QHBoxLayout()
        row.addWidget(self.add_btn)
        row.addWidget(self.protect)
        lay.addLayout(row)
        self._filling = False
        session.projectChanged.connect(lambda _p: self.refresh())
        session.classesChanged.connect(self.refresh)

    def _ignore_row(self) -> int | None:
        """The row of "Ignore" (after the classes), None when the project has no ignore."""
        project = self.session.project
        if project is None or project.ignore_value is None:
            return None
        return project.num_classes

    def _index_of_row(self, row: int) -> int:
        return IGNORE_INDEX if row == self._ignore_row() else row

    def refresh(self) -> None:
        project = self.session.project
        self._filling = True
        self.table.setRowCount(0)
        ignore_row = self._ignore_row()
        if project is not None:
            self.table.setRowCount(project.num_classes + (ignore_row is not None))
            for i, c in enumerate(project.classes):
                key = QTableWidgetItem(str(i) if i < 10 else "")
                key.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                swatch = QTableWidgetItem()
                swatch.setIcon(_swatch(c.color))  # an icon stays visible on the selected row
                swatch.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                swatch.setToolTip("double-click to change the colour")
                name = QTableWidgetItem(c.name)
                name.setToolTip(f"stored as pixel value {c.value}; double-click to rename")
                self.table.setItem(i, 0, key)
                self.table.setItem(i, 1, swatch)
                self.table.setItem(i, 2, name)
        if ignore_row is not None:
            fixed = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            items = [QTableWidgetItem(""), QTableWidgetItem(), QTableWidgetItem("Ignore")]
            items[1].setIcon(_hatched_swatch())
            for column, item in enumerate(items):
                item.setFlags(fixed)
                item.setToolTip(
                    "not labelled here (stored as 255): training and scores skip these "
                    "pixels; the canvas shows them hatched"
                )
                self.table.setItem(ignore_row, column, item)
        self._filling = False
        self._fit_rows()
        self.show_active(self.session.active_class)

    def _fit_rows(self, most: int = 8) -> None:
        """As tall as its rows (up to ``most``, then it scrolls): a maximum alone left a
        scroll bar over a half-cut last row with room to spare below (walk-through 6)."""
        t = self.table
        rows = min(max(t.rowCount(), 2), most)
        heights = sum(t.rowHeight(r) for r in range(min(rows, t.rowCount())))
        heights += t.verticalHeader().defaultSectionSize() * max(0, rows - t.rowCount())
        t.setFixedHeight(t.horizontalHeader().height() + heights + 2 * t.frameWidth())

    def show_active(self, index: int) -> None:
        row = self._ignore_row() if index == IGNORE_INDEX else index
        if row is not None and 0 <= row < self.table.rowCount() and self.table.currentRow() != row:
            self._filling = True
            self.table.setCurrentCell(row, 2)
            self._filling = False

    def pick(self, index: int) -> None:
        """Make ``index`` the active class (number keys, clicks; IGNORE_INDEX: "Ignore")."""
        project = self.session.project
        ignore = index == IGNORE_INDEX and self._ignore_row() is not None
        if project is None or not (0 <= index < project.num_classes or ignore):
            return
        self.session.set_active_class(index)
        self.show_active(index)
        self.classPicked.emit(index)

    def _on_row(self, row: int, *_):
        if not self._filling and row >= 0:
            self.pick(self._index_of_row(row))

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == 2 and item.row() != self._ignore_row():
            self.session.rename_class(item.row(), item.text().strip())

    def _on_double_click(self, row: int, column: int) -> None:
        if column != 1 or self.session.project is None or row == self._ignore_row():
            return
        old = QColor(*self.session.project.classes[row].color)
        color = QColorDialog.getColor(old, self, "Class colour")
        if color.isValid():
            self.session.recolor_class(row, (color.red(), color.green(), color.blue()))

    def _ask_add(self) -> None:
        project = self.session.project
        if project is None:
            return
        name, ok = QInputDialog.getText(self, "Add class", "Name of the new class:")
        if ok and name.strip():
            n = project.num_classes
            self.session.add_class(name.strip(), DEFAULT_COLORS[n % len(DEFAULT_COLORS)])


def _hatched_swatch() -> QIcon:
    """The "Ignore" swatch: stripes, as the canvas draws ignore pixels."""
    from segapp.ui.canvas.items import IGNORE_COLOR

    pm = QPixmap(16, 16)
    pm.fill(QColor(90, 90, 90))
    p = QPainter(pm)
    p.setBrush(QBrush(QColor(*IGNORE_COLOR), Qt.BrushStyle.BDiagPattern))
    p.setPen(QColor(128, 128, 128))
    p.drawRect(0, 0, 15, 15)
    p.end()
    return QIcon(pm)


def _swatch(color: tuple[int, int, int]) -> QIcon:
    pm = QPixmap(16, 16)
    pm.fill(QColor(*color))
    p = QPainter(pm)
    p.setPen(QColor(128, 128, 128))
    p.drawRect(0, 0, 15, 15)
    p.end()
    return QIcon(pm)
