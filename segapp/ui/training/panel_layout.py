"""Where the Train panel's widgets go: the settings on the left (scrolling in a low dock),
Train with what it will do, the run and its curves on the right."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

CONTROLS_WIDTH = 340  # the settings column; the curves take the rest


def lay_out(panel: QWidget) -> None:
    """Lay out a TrainPanel whose widgets are built: the settings left (scrolling when the
    dock is low); Train, what it will do, the run and its curves right."""
    controls = QWidget()
    col = QVBoxLayout(controls)
    col.setContentsMargins(4, 4, 4, 4)
    col.addWidget(panel.form)
    col.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidget(controls)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setFixedWidth(CONTROLS_WIDTH)
    run = QVBoxLayout()
    run.setContentsMargins(4, 4, 4, 0)
    run.setSpacing(2)
    bar = QHBoxLayout()
    for b in (panel.train_btn, panel.stop_btn, panel.cancel_btn):
        bar.addWidget(b)
    bar.addWidget(panel.progress, 1)
    run.addLayout(bar)
    # what Train will do, beside it (the settings column scrolls in a low dock)
    for label in (panel.data_label, panel.estimate_label):
        run.addWidget(label)
    for label in (panel.epoch_label, panel.status_label, panel.error_label):
        run.addWidget(label)
    panel.plot_area = QVBoxLayout()
    run.addLayout(panel.plot_area, 1)
    lay = QHBoxLayout(panel)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(scroll)
    lay.addLayout(run, 1)
