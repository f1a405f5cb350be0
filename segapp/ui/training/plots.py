"""The live curves of a training run (pyqtgraph): losses, and validation IoU / Dice.

Imported only when the training panel is first shown (pyqtgraph takes ~0.5 s to import).
Points arrive from the run's JSON lines: ``add_batch`` within an epoch (x = fractional
epoch; redrawn at most every ``BATCH_REDRAW_MS``), ``add_epoch`` once per epoch (drawn at
once); the best epoch is marked with a star.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

BATCH_REDRAW_MS = 200
# a low dock squeezes the curves to this before it cuts anything (axis titles included)
MIN_PLOT_HEIGHT = 120

pg.setConfigOptions(antialias=True, background="w", foreground="#333")

COLORS = {
    "batch_loss": (120, 150, 220, 110),
    "train_loss": (40, 90, 200),
    "val_loss": (230, 120, 20),
    "val_iou": (30, 160, 60),
    "val_dice": (150, 60, 190),
}
NAMES = {
    "batch_loss": "train loss (batches)",
    "train_loss": "train loss",
    "val_loss": "val loss",
    "val_iou": "val IoU",
    "val_dice": "val Dice",
}


class TrainPlots(QWidget):
    """Two plots side by side; ``curves[name].getData()`` gives what is drawn."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.loss_plot = pg.PlotWidget()
        self.metric_plot = pg.PlotWidget()
        self.data: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in NAMES}
        self.curves: dict[str, pg.PlotDataItem] = {}
        # legends where the curves usually are not: losses fall, IoU and Dice rise
        for plot, title, ylabel, corner in (
            (self.loss_plot, "Loss", "loss", (-8, 8)),
            (self.metric_plot, "Validation", "IoU / Dice", (-8, -28)),
        ):
            plot.setTitle(title)
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylabel)
            for side in ("bottom", "left"):  # losses of 0.35 read 0.35, not 350 (x0.001)
                plot.getAxis(side).enableAutoSIPrefix(False)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.addLegend(offset=corner, labelTextSize="8pt")
            plot.setMenuEnabled(False)
            plot.setMinimumSize(220, MIN_PLOT_HEIGHT)
        self.metric_plot.setYRange(0, 1, padding=0.02)
        self.metric_plot.getViewBox().setLimits(yMin=-0.05, yMax=1.05)
        for name in NAMES:
            plot = (
                self.metric_plot
                if name.startswith("val_i") or name == "val_dice"
                else self.loss_plot
            )
            width = 1 if name == "batch_loss" else 2
            symbol = None if name == "batch_loss" else "o"
            self.curves[name] = plot.plot(
                [],
                [],
                name=NAMES[name],
                pen=pg.mkPen(COLORS[name], width=width),
                symbol=symbol,
                symbolSize=5,
                symbolBrush=COLORS[name],
                symbolPen=None,
            )
        self.best = pg.ScatterPlotItem(
            size=16, symbol="star", brush=pg.mkBrush(255, 200, 0), pen=pg.mkPen(120, 80, 0)
        )
        self.metric_plot.addItem(self.best)
        self.best_text = pg.TextItem(anchor=(0.5, -0.3), color=(90, 60, 0))  # below the star
        self.metric_plot.addItem(self.best_text)
        self.best_point: tuple[int, float] | None = None
        # why the plot is empty, when it is: top left (the legend is bottom right)
        self.no_val = pg.TextItem("", anchor=(0, 0), color=(110, 110, 110))
        self.no_val.setPos(0, 1.0)
        self.metric_plot.addItem(self.no_val)
        self.epochs = 1
        self._redraw = QTimer(self, singleShot=True, interval=BATCH_REDRAW_MS)
        self._redraw.timeout.connect(self._draw_batches)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.loss_plot, 1)
        lay.addWidget(self.metric_plot, 1)

    def clear(self) -> None:
        self._redraw.stop()
        for name in NAMES:
            self.data[name] = ([], [])
            self.curves[name].setData([], [])
        self.best.setData([], [])
        self.best_text.setText("")
        self.best_point = None

    def set_epochs(self, epochs: int) -> None:
        """The x axis spans the whole run from the start."""
        self.epochs = max(1, epochs)
        for plot in (self.loss_plot, self.metric_plot):
            plot.setXRange(0, self.epochs, padding=0.02)

    def set_no_validation(self, why: str) -> None:
        """Say in the validation plot why it has no curves ("" once it has validation)."""
        self.no_val.setText(why)

    def _append(self, name: str, x: float, y: float, draw: bool = True) -> None:
        xs, ys = self.data[name]
        xs.append(x)
        ys.append(y)
        if draw:
            self.curves[name].setData(xs, ys)

    def _draw_batches(self) -> None:
        self.curves["batch_loss"].setData(*self.data["batch_loss"])

    def add_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        """A batch of epoch ``epoch`` (1-based) ended with ``loss``."""
        self._append("batch_loss", epoch - 1 + batch / max(1, batches), loss, draw=False)
        if not self._redraw.isActive():
            self._redraw.start()

    def add_epoch(self, msg: dict) -> None:
        """One ``{"event": "epoch", ...}`` line of ``segapp train --json``."""
        e = int(msg["epoch"])
        self._redraw.stop()
        self._draw_batches()
        for name in ("train_loss", "val_loss", "val_iou", "val_dice"):
            value = msg.get(name)
            if value is not None and value == value:  # NaN (no validation images) is left out
                self._append(name, e, float(value))
        best_epoch, best_iou = msg.get("best_epoch"), msg.get("best_iou")
        trusted = msg.get("val_trusted", True)  # too few validation images: no "best" star
        if trusted and best_epoch and best_iou is not None and best_iou >= 0:
            self.best_point = (int(best_epoch), float(best_iou))
            self.best.setData([best_epoch], [best_iou])
            self.best_text.setText(f"best {best_iou:.3f}")
            self.best_text.setPos(best_epoch, best_iou)
            right = best_epoch > 0.75 * max(self.epochs, e)  # keep the label inside the plot
            self.best_text.setAnchor((1.0 if right else 0.5, -0.3))
