"""The Train panel's progress line of a run: the bar of its steps, the epoch line and its
ticking ETA."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QProgressBar

from segapp.ui.folding_label import FoldingLabel
from segapp.ui.training.estimate import describe_epoch


class RunProgress(QObject):
    """``bar`` and ``label`` (widgets for the panel's layout) follow a run's steps and epochs;
    between epochs the ETA counts down once a second. The bar counts optimizer steps: the
    time budget plans them again after each step, so its total may fall as the run goes (an
    epoch count would jump, "0 / 8" to "1 / 1")."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFormat("")
        self.label = FoldingLabel()
        self.epochs = 1  # planned; the time budget may shorten it (``epoch``)
        self.step = 0  # optimizer steps done
        self.steps = 0  # the steps the run takes as planned now (the budget may cut them)
        self.steps_planned = 0  # ... before the time budget cut them
        self._epoch_info: tuple[float, float] | None = None  # (eta seconds, at time)
        self._last_epoch: dict = {}
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(self._show_eta)

    def start(self, epochs: int, steps: int) -> None:
        self.epochs, self.step, self.steps, self.steps_planned = epochs, 0, steps, steps
        self._show_steps()  # the line below: the epoch under way
        self.label.setText("starting the training process…")
        self._epoch_info = None
        self._last_epoch = {}
        self._timer.start()

    def batch(self, epoch: int, batch: int, batches: int, step: int, steps: int) -> None:
        if steps:  # (0: a line that did not say)
            self.step, self.steps = step, steps
        self._show_steps()
        if self._epoch_info is None:
            self.label.setText(f"epoch {epoch} / {self.epochs}: batch {batch} / {batches}")

    def epoch(self, msg: dict) -> bool:
        """Show a finished epoch; True when the run's epoch count changed (the time budget)."""
        n = int(msg["epochs"])
        changed = n != self.epochs
        self.epochs = n
        if "steps" in msg:
            self.step, self.steps = int(msg["steps_done"]), int(msg["steps"])
            self.steps_planned = int(msg.get("steps_planned") or self.steps_planned)
        self._show_steps()
        self._epoch_info = (float(msg.get("eta_seconds", 0.0)), time.monotonic())
        self._last_epoch = msg
        self._show_eta()
        return changed

    @property
    def budget_cut(self) -> bool:
        """The time budget fits fewer steps than the recipe planned."""
        return 0 < self.steps < self.steps_planned

    def stop(self) -> None:
        """The run ended: the ETA stops ticking."""
        self._timer.stop()

    def finish(self, stopped: bool) -> None:
        """A run that ended with a checkpoint: the bar and the line say how far it went."""
        self.stop()
        done = self.step
        if stopped and done < self.steps:
            self.bar.setValue(int(1000 * done / max(1, self.steps)))
            self.bar.setFormat(f"stopped after {done} of {self.steps} steps")
        else:
            self.bar.setValue(1000)
            self.bar.setFormat(f"{done} / {done} steps done")
        self._epoch_info = None
        self.label.setText("")

    def _show_steps(self) -> None:
        self.bar.setValue(int(1000 * min(1.0, self.step / max(1, self.steps))))
        self.bar.setFormat(f"{self.step} / {self.steps} steps")

    def _show_eta(self) -> None:
        if self._epoch_info is None:
            return
        eta = max(0.0, self._epoch_info[0] - (time.monotonic() - self._epoch_info[1]))
        self.label.setText(describe_epoch(self._last_epoch, eta))
