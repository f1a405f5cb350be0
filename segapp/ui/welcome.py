"""The welcome page shown when no project is open: open / new / demo, and recent projects."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class WelcomePage(QWidget):
    openFolderRequested = Signal()
    openProjectRequested = Signal()
    newProjectRequested = Signal()
    demoRequested = Signal()
    recentRequested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        title = QLabel("<h1>segapp</h1>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sub = QLabel(
            "Build image-segmentation data sets with a U-Net in the loop: the model proposes, "
            "you correct, it learns."
        )
        sub.setWordWrap(True)
        sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        buttons = [
            ("Open folder…", "a folder of images, or images/ + masks/", self.openFolderRequested),
            ("Open project…", "a folder with segapp.json", self.openProjectRequested),
            ("New project…", "start labeling a folder of images", self.newProjectRequested),
            ("Try the demo", "coins photos and a small trained model, offline", self.demoRequested),
        ]
        grid = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        for i, (text, tip, signal) in enumerate(buttons):
            b = QPushButton(text)
            b.setMinimumSize(180, 44)
            b.setToolTip(tip)
            b.clicked.connect(signal)
            self.buttons[text] = b
            grid.addWidget(b, i // 2, i % 2)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(140)
        self.recent.itemActivated.connect(lambda it: self.recentRequested.emit(it.data(256)))
        self.recent_label = QLabel("Recent projects")
        box = QWidget()
        box.setMaximumWidth(560)
        inner = QVBoxLayout(box)
        inner.addWidget(title)
        inner.addWidget(sub)
        inner.addSpacing(16)
        inner.addLayout(grid)
        inner.addSpacing(16)
        inner.addWidget(self.recent_label)
        inner.addWidget(self.recent)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        lay.addWidget(box, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        for p in paths:
            item = QListWidgetItem(f"{Path(p).name}   —   {p}")
            item.setData(256, p)
            self.recent.addItem(item)
        self.recent.setVisible(bool(paths))
        self.recent_label.setVisible(bool(paths))
