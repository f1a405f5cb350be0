"""The "≈ N s per epoch" line of the training panel, shown before a run starts.

From an earlier version's measured throughput when there is one (free); otherwise a few
training steps are timed in a worker thread (``segapp.ml.estimate.measure``), one
measurement at a time, the latest settings winning.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel

from segapp.ml import estimate
from segapp.ui.tasks import run_task


def _key(settings: dict[str, Any]) -> tuple:
    return tuple(settings[k] for k in ("base", "size", "batch_size", "device"))


class EstimateLabel(QLabel):
    def __init__(self, parent=None, auto_measure: bool = True) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setStyleSheet("color: #555")
        self.auto_measure = auto_measure
        self.last: estimate.Estimate | None = None
        self.measuring = False
        self._again: tuple | None = None
        self._measured: dict[tuple, estimate.Estimate] = {}  # by network settings

    def update_for(
        self, known: list[Any], classes: int, settings: dict[str, Any], n_train: int, n_val: int
    ) -> None:
        """Show the estimate for ``settings`` (``TrainForm.values()``), given the project's
        versions (``versions.list_versions``), classes and train / validation image counts."""
        if n_train < 1:
            self.setText("")
            return
        preset = estimate.base_preset(settings["base"], known)
        est = estimate.from_history(
            known, preset, settings["size"], n_train, settings["resize_mode"]
        )
        key = _key(settings)
        if est is None and key in self._measured:  # measured before: only the counts changed
            ips = self._measured[key].images_per_second
            est = estimate.Estimate(
                estimate.epoch_seconds(ips, n_train, n_val), ips, self._measured[key].source
            )
        if est is not None:
            self.show_estimate(est, settings["epochs"])
        elif self.measuring:
            self._again = (known, classes, settings, n_train, n_val)
        elif self.auto_measure:
            self._measure(classes, settings, n_train, n_val)
        else:
            self.setText("")

    def _measure(self, classes: int, s: dict[str, Any], n_train: int, n_val: int) -> None:
        self.measuring = True
        self.setText("estimating the time per epoch…")

        def measure():
            return estimate.measure(
                s["base"], classes, s["size"], s["batch_size"], n_train, n_val, s["device"]
            )

        run_task(
            self, measure, lambda e: self._done(e, s["epochs"], _key(s)), self._failed, "estimate"
        )

    def _done(self, est: estimate.Estimate, epochs: int, key: tuple) -> None:
        self.measuring = False
        self._measured[key] = est
        if self._again is not None:
            again, self._again = self._again, None
            self.update_for(*again)
            return
        self.show_estimate(est, epochs)

    def _failed(self, message: str) -> None:
        self.measuring = False
        self._again = None
        self.setText(f"no time estimate ({message.splitlines()[0] if message else 'failed'})")

    def show_estimate(self, est: estimate.Estimate, epochs: int) -> None:
        self.last = est
        per = estimate.format_duration(est.seconds_per_epoch)
        total = estimate.format_duration(est.seconds_per_epoch * epochs)
        self.setText(f"≈ {per} per epoch, {total} for {epochs} epochs ({est.source})")
