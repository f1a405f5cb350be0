"""Seconds per corrected mask across model versions (pyqtgraph): is the loop paying off?

One point per version, oldest first: the mean active seconds it took to correct an image
that version proposed (``versions.effort_stats``). Imported when the Versions tab is first
shown (pyqtgraph takes ~0.5 s to import).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

pg.setConfigOptions(antialias=True, background="w", foreground="#333")  # as the Train plots

COLOR = (40, 90, 200)


class EffortPlot(pg.PlotWidget):
    """``curve.getData()`` gives what is drawn: x = the version's place, y = seconds."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("Seconds per corrected mask")
        self.setLabel("left", "seconds")
        self.setLabel("bottom", "version (proposed by)")
        for side in ("bottom", "left"):  # no "(x0.001)" on a version's place or on seconds
            self.getAxis(side).enableAutoSIPrefix(False)
        self.showGrid(x=False, y=True, alpha=0.25)
        self.setMenuEnabled(False)
        self.setMinimumSize(220, 150)
        self.setMaximumWidth(360)  # the table beside it needs the room
        self.curve = self.plot(
            [],
            [],
            pen=pg.mkPen(COLOR, width=2),
            symbol="o",
            symbolSize=6,
            symbolBrush=COLOR,
            symbolPen=None,
        )

    def set_points(self, names: list[str], seconds: list[float | None]) -> None:
        """Versions in order with their seconds per mask; None: no corrected image with a
        record yet (the version keeps its place on the axis, without a point)."""
        xs = [i for i, s in enumerate(seconds) if s is not None]
        self.curve.setData(xs, [seconds[i] for i in xs])
        self.getAxis("bottom").setTicks([list(enumerate(names))])
        if names:
            self.setXRange(-0.5, len(names) - 0.5, padding=0)
            top = max((s for s in seconds if s is not None), default=0.0)
            self.setYRange(0, max(top * 1.1, 1.0))
