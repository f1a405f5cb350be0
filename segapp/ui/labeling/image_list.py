"""The image list: name, status (unlabeled / proposed / corrected), small thumbnails, filter.

Thumbnails are decoded in a thread pool only when a row is drawn (lazy); an image that
cannot be read gets an error mark and its reason as a tooltip. D / A (next / previous)
walk the images that pass the filter, in project order; N (the Suggest button) goes to the
image least like those corrected so far (:mod:`segapp.ui.labeling.suggest`).
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPointF,
    QRunnable,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segapp.ui.labeling.session import LabelSession
from segapp.ui.labeling.suggest import Suggester

log = logging.getLogger(__name__)

THUMB = 44
STATUS_COLORS = {
    "unlabeled": QColor(140, 140, 140),
    "proposed": QColor(240, 160, 30),
    "corrected": QColor(60, 190, 80),
    "error": QColor(220, 50, 50),
}
FILTERS = [("All images", None), ("Unlabeled", "unlabeled"), ("Proposed", "proposed")]
FILTERS += [("Corrected", "corrected"), ("Unreadable", "error")]
StatusRole = Qt.ItemDataRole.UserRole + 1
StemRole = Qt.ItemDataRole.UserRole + 2


class _ThumbSignals(QObject):
    done = Signal(int, str, object, str)  # generation, stem, QImage | None, error


def _pixel_ratio() -> float:
    """Screen pixels per logical pixel (2 on a screen scaled by 200 %): thumbnails are made
    at that resolution, or the scaled screen stretches them soft."""
    app = QGuiApplication.instance()
    return max(1.0, float(app.devicePixelRatio())) if app is not None else 1.0


class _ThumbJob(QRunnable):
    def __init__(
        self, signals: _ThumbSignals, generation: int, stem: str, path, ratio: float = 1.0
    ) -> None:
        super().__init__()
        self.signals, self.generation, self.stem, self.path = signals, generation, stem, path
        self.ratio = ratio

    def run(self) -> None:
        import cv2

        from segapp.core.imageio import read_image, to_rgb

        try:
            rgb = to_rgb(read_image(self.path))
        except Exception as e:  # noqa: BLE001 - any failure is an unreadable image here
            self.signals.done.emit(self.generation, self.stem, None, str(e))
            return
        h, w = rgb.shape[:2]
        s = THUMB * self.ratio / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        small = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
        qimg = QImage(
            small.data,
            small.shape[1],
            small.shape[0],
            small.strides[0],
            QImage.Format.Format_RGB888,
        ).copy()
        qimg.setDevicePixelRatio(self.ratio)
        self.signals.done.emit(self.generation, self.stem, qimg, "")


class ImageListModel(QAbstractListModel):
    """One row per project entry; reads status from the session."""

    unreadable = Signal(str)  # a thumbnail found its image unreadable (the counts change)

    def __init__(self, session: LabelSession, thumbnails: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.thumbnails = thumbnails
        self._stems: list[str] = []
        self._rows: dict[str, int] = {}
        self._thumbs: dict[str, QImage] = {}
        self._ratio = _pixel_ratio()
        self._asked: set[str] = set()
        self._icons: dict[str, QIcon] = {}
        self._generation = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _ThumbSignals()
        self._signals.done.connect(self._on_thumb)
        session.projectChanged.connect(self._reset)
        session.entryChanged.connect(self._on_entry)

    def _reset(self, project) -> None:
        self.beginResetModel()
        self._generation += 1
        self._pool.clear()
        self._stems = [e.stem for e in project.entries] if project is not None else []
        self._rows = {s: i for i, s in enumerate(self._stems)}
        self._thumbs.clear()
        self._asked.clear()
        self._icons.clear()
        self.endResetModel()

    def stems(self) -> list[str]:
        return list(self._stems)

    def row_of(self, stem: str) -> int:
        return self._rows.get(stem, -1)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._stems)

    def status(self, stem: str) -> tuple[str, bool]:
        entry = self.session.entry_of(stem)
        if entry.error is not None:
            return "error", False
        return self.session.status_of(stem)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.session.project is None:
            return None
        stem = self._stems[index.row()]
        if role == StemRole:
            return stem
        status, unsaved = self.status(stem)
        entry = self.session.entry_of(stem)
        if role == Qt.ItemDataRole.DisplayRole:
            label = "unreadable" if status == "error" else status
            if entry.mask_error and status != "error":
                label += ", mask unusable"
            return f"{stem}\n{label}{'  • unsaved' if unsaved else ''}"
        if role == StatusRole:
            return status
        if role == Qt.ItemDataRole.ToolTipRole:
            if entry.error or entry.mask_error:
                return entry.error or entry.mask_error
            by = f" by {entry.proposed_by}" if entry.proposed_by else ""
            return f"{entry.image_path.name}: {status}{by if status == 'proposed' else ''}"
        if role == Qt.ItemDataRole.DecorationRole:
            if self.thumbnails and stem not in self._asked:
                self._asked.add(stem)
                job = _ThumbJob(
                    self._signals, self._generation, stem, entry.image_path, self._ratio
                )
                self._pool.start(job)
            return self._icon(stem, status, bool(entry.mask_error))
        return None

    def _icon(self, stem: str, status: str, broken: bool = False) -> QIcon:
        """The thumbnail with its status dot; "!" on it when the image (``error``) or its
        mask (``broken``) cannot be used."""
        key = f"{stem}\0{status}\0{broken}"
        icon = self._icons.get(key)
        if icon is None:
            side = round(THUMB * self._ratio)
            pm = QPixmap(side, side)
            pm.setDevicePixelRatio(self._ratio)  # drawn in logical pixels, THUMB wide
            pm.fill(QColor(40, 40, 40))
            p = QPainter(pm)
            thumb = self._thumbs.get(stem)
            if thumb is not None:
                size = thumb.deviceIndependentSize()
                corner = QPointF((THUMB - size.width()) / 2, (THUMB - size.height()) / 2)
                p.drawImage(corner, thumb)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QColor(20, 20, 20))
            p.setBrush(STATUS_COLORS[status])
            p.drawEllipse(THUMB - 15, THUMB - 15, 13, 13)
            if status == "error" or broken:
                p.setPen(QColor(255, 255, 255))
                p.drawText(THUMB - 15, THUMB - 15, 13, 13, Qt.AlignmentFlag.AlignCenter, "!")
            p.end()
            icon = QIcon(pm)
            self._icons = {k: v for k, v in self._icons.items() if not k.startswith(stem + "\0")}
            self._icons[key] = icon
        return icon

    def _changed(self, stem: str) -> None:
        row = self._rows.get(stem)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def _on_entry(self, stem: str) -> None:
        self._changed(stem)

    def _on_thumb(self, generation: int, stem: str, qimg, error: str) -> None:
        if generation != self._generation or self.session.project is None:
            return
        entry = self.session.entry_of(stem)
        if qimg is None:
            entry.error = error
            self.unreadable.emit(stem)
        else:
            self._thumbs[stem] = qimg
        self._icons = {k: v for k, v in self._icons.items() if not k.startswith(stem + "\0")}
        self._changed(stem)

    def shutdown(self) -> None:
        self._generation += 1
        self._pool.clear()
        self._pool.waitForDone()


class _StatusFilter(QSortFilterProxyModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.status: str | None = None

    def set_status(self, status: str | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10
            self.beginFilterChange()
            self.status = status
            self.endFilterChange()
        else:
            self.status = status
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        if self.status is None:
            return True
        idx = self.sourceModel().index(row, 0, parent)
        return self.sourceModel().data(idx, StatusRole) == self.status


class ImageListPanel(QWidget):
    """The filter, the list and a count line; selecting a row selects the image."""

    def __init__(self, session: LabelSession, thumbnails: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = ImageListModel(session, thumbnails, self)
        self.proxy = _StatusFilter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setDynamicSortFilter(True)
        self.filter = QComboBox()
        for label, _ in FILTERS:
            self.filter.addItem(label)
        self.filter.currentIndexChanged.connect(self._on_filter)
        self.view = QListView()
        self.view.setObjectName("imageList")
        self.view.setModel(self.proxy)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # only a click selects an image: filter and status changes never switch images
        self.view.clicked.connect(self._on_clicked)
        self.suggester = Suggester(session, self)
        self.suggest_button = QToolButton()
        self.suggest_button.setText("Suggest next")
        self.suggest_button.setToolTip(
            "Go to the image least like those corrected so far (N): corrections that cover "
            "the project's kinds of image teach the model more than the next in the folder"
        )
        self.suggest_button.clicked.connect(self.suggester.suggest)
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 0, 2)  # "Show" and the counts off the window's edge
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.filter, 1)
        top.addWidget(self.suggest_button)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.counts)
        session.currentChanged.connect(self._follow_current)
        self._counts_timer = QTimer(self)  # coalesces count updates (propose all ...)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(30)
        self._counts_timer.timeout.connect(self._update_counts)
        session.entryChanged.connect(lambda _s: self._counts_timer.start())
        self.model.unreadable.connect(lambda _s: self._counts_timer.start())
        session.projectChanged.connect(self._on_project)
        self._told: set[str] = set()  # unreadable images the status bar has named

    # ------------------------------------------------------------------ filter / counts
    def set_filter(self, status: str | None) -> None:
        self.filter.setCurrentIndex([s for _, s in FILTERS].index(status))

    def _on_filter(self, i: int) -> None:
        self.proxy.set_status(FILTERS[i][1])
        self._follow_current(self.session.current or "")

    def _on_project(self, _project) -> None:
        self._told.clear()
        self._update_counts()

    def _update_counts(self) -> None:
        p = self.session.project
        if p is None:
            self.counts.setText("")
            self.counts.setToolTip("")
            return
        n = {k: 0 for k in STATUS_COLORS}
        unreadable = []
        for stem in self.model.stems():
            status = self.model.status(stem)[0]
            n[status] += 1
            if status == "error":
                unreadable.append(stem)
        text = f"{len(p.entries)} images: {n['corrected']} corrected, {n['proposed']} proposed, "
        text += f"{n['unlabeled']} unlabeled"
        if n["error"]:
            text += f", {n['error']} unreadable"
        self.counts.setText(text)
        self._tell_unreadable(unreadable)

    def _tell_unreadable(self, stems: list[str]) -> None:
        """Name the images found unreadable (as their thumbnails load) in the status bar, once
        each, and all of them in the counts' tooltip: the list's "!" alone said nothing."""
        whys = [self.session.entry_of(s).error or s for s in stems]
        self.counts.setToolTip("\n".join(whys[:20] + (["…"] if len(whys) > 20 else [])))
        new = [s for s in stems if s not in self._told]
        if not new:
            return
        self._told.update(new)
        first = self.session.entry_of(new[0]).error or new[0]
        more = (
            f" (and {len(new) - 1} more: the images marked ! in the list)" if len(new) > 1 else ""
        )
        self.session.message.emit(f"cannot read {first}{more}")

    # ------------------------------------------------------------------ selection
    def _on_clicked(self, index: QModelIndex) -> None:
        stem = self.proxy.data(index, StemRole) if index.isValid() else None
        if stem and stem != self.session.current:
            self.session.select(stem)

    def _follow_current(self, stem: str) -> None:
        row = self.model.row_of(stem) if stem else -1
        idx = self.proxy.mapFromSource(self.model.index(row)) if row >= 0 else QModelIndex()
        sm = self.view.selectionModel()
        if idx.isValid():
            sm.setCurrentIndex(idx, sm.SelectionFlag.ClearAndSelect)
            self.view.scrollTo(idx)
        else:
            sm.clearSelection()

    def step(self, delta: int) -> bool:
        """Next (+1) / previous (-1) image that passes the filter, in project order."""
        stems = self.model.stems()
        if not stems:
            return False
        cur = self.session.current
        i = self.model.row_of(cur) if cur else -1
        j = i + delta
        while 0 <= j < len(stems):
            if self.proxy.filterAcceptsRow(j, QModelIndex()):
                self.session.select(stems[j])
                return True
            j += delta
        self.session.message.emit("last image" if delta > 0 else "first image")
        return False

    def shutdown(self) -> None:
        self.suggester.shutdown()
        self.model.shutdown()
