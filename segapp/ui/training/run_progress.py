"""The Train panel's progress line of a run: the bar, the epoch line and its ticking ETA."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QProgressBar

from segapp.ui.folding_label import FoldingLabel
from segapp.ui.training.estimate import describe_epoch


class RunProgress(QObject):
    """``bar`` and ``label`` (widgets for the panel's layout) follow a run's batches and
    epochs; between epochs the ETA counts down once a second."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFormat("")
        self.label = FoldingLabel()
        self.epochs = 1  # planned; the time budget may shorten it (``epoch``)
        self._epoch_info: tuple[float, float] | None = None  # (eta seconds, at time)
        self._last_epoch: dict = {}
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(self._show_eta)

    def start(self, epochs: int) -> None:
        self.epochs = epochs
        self.bar.setValue(0)
        self.bar.setFormat(f"0 / {epochs} epochs done")  # the line below: the epoch under way
        self.label.setText("starting the training process…")
        self._epoch_info = None
        self._timer.start()

    def batch(self, epoch: int, batch: int, batches: int) -> None:
        done = (epoch - 1 + batch / max(1, batches)) / max(1, self.epochs)
        self.bar.setValue(int(1000 * min(1.0, done)))
        if self._epoch_info is None:
            self.label.setText(f"epoch {epoch} / {self.epochs}: batch {batch} / {batches}")

    def epoch(self, msg: dict) -> bool:
        """Show a finished epoch; True when the run's epoch count changed (the time budget)."""
        e, n = int(msg["epoch"]), int(msg["epochs"])
        changed = n != self.epochs
        self.epochs = n
        self.bar.setValue(int(1000 * e / max(1, n)))
        self.bar.setFormat(f"{e} / {n} epochs done")
        self._epoch_info = (float(msg.get("eta_seconds", 0.0)), time.monotonic())
        self._last_epoch = msg
        self._show_eta()
        return changed

    def stop(self) -> None:
        """The run ended: the ETA stops ticking."""
        self._timer.stop()

    def finish(self, stopped: bool) -> None:
        """A run that ended with a checkpoint: the bar and the line say how far it went."""
        self.stop()
        done = int(self._last_epoch.get("epoch", 0))
        if stopped and done < self.epochs:
            self.bar.setValue(int(1000 * done / max(1, self.epochs)))
            self.bar.setFormat(f"stopped after {done} of {self.epochs} epochs")
        else:
            self.bar.setValue(1000)
            self.bar.setFormat(f"{done} / {done} epochs done")
        self._epoch_info = None
        self.label.setText("")

    def _show_eta(self) -> None:
        if self._epoch_info is None:
            return
        eta = max(0.0, self._epoch_info[0] - (time.monotonic() - self._epoch_info[1]))
        self.label.setText(describe_epoch(self._last_epoch, eta))
