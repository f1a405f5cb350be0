"""The "≈ 1 min 40 s: 96 steps of 5 images" line of the training panel, before a run starts.

From an earlier version's measured throughput when there is one (free); otherwise a few
training steps are timed in a process of its own (``segapp.ml.estimate.measure``, as
``jobs.estimate``), waited for by a worker thread, one measurement at a time, the latest
settings winning.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel

from segapp.ml import estimate, recipe
from segapp.ml.job_process import run_job
from segapp.ml.registry import PRESETS
from segapp.ui.tasks import run_task


def describe_epoch(msg: dict[str, Any], eta: float) -> str:
    """The progress line of a running round, from its last epoch line (``train --json``)."""
    best = msg.get("best_iou")
    if best is None:
        chosen = "no validation images: the last epoch is kept"
    else:
        trust = "" if msg.get("val_trusted", True) else ", too few images to choose on"
        chosen = f"val IoU {best:.3f} (epoch {msg['best_epoch']}{trust})"
    return (
        f"epoch {msg['epoch']} / {msg['epochs']} · {msg['seconds']:.1f} s/epoch · "
        f"ETA {estimate.format_duration(eta)} · {chosen}"
    )


def _source(est: estimate.Estimate) -> str:
    """Where an estimate's speed comes from: "measured on cpu", or "at v003's speed"."""
    return est.source if est.source.startswith("measured") else f"at {est.source}'s speed"


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
        self._plan: tuple[recipe.Schedule | None, int, float] = (None, 0, 0.0)
        self._unlabeled = 0  # images without masks the run learns from too

    def update_for(
        self,
        known: list[Any],
        classes: int,
        settings: dict[str, Any],
        schedule: recipe.Schedule | None,
        n_val: int,
        budget: float,
        others: int = 0,
    ) -> None:
        """Show what a run with ``settings`` (``TrainForm.values()``) will do and how long it
        takes, given the project's versions (``versions.list_versions``), classes, the planned
        schedule, validation images, time budget in seconds (0 = none) and the images that
        are neither training nor validation images (a run may learn from them too)."""
        self._plan = (schedule, n_val, budget)
        self._unlabeled = 0
        if schedule is None:
            self.setText("")
            return
        continuing = settings["base"] not in PRESETS  # from a trained version
        self._unlabeled = recipe.unlabeled_planned(
            None, continuing, others, schedule.batch_size, settings["resize_mode"]
        )
        n_train = schedule.images
        preset = estimate.base_preset(settings["base"], known)
        est = estimate.from_history(
            known, preset, settings["size"], n_train, settings["resize_mode"]
        )
        key = _key(settings)
        if est is None and key in self._measured:  # measured before: only the counts changed
            est = self._measured[key]
        if est is not None:
            self.show_estimate(est)
        elif self.measuring:
            self._again = (known, classes, settings, schedule, n_val, budget, others)
        elif self.auto_measure:
            self._measure(classes, settings, schedule, n_val)
        else:
            self.setText(self._plan_text())

    def _measure(
        self, classes: int, s: dict[str, Any], schedule: recipe.Schedule, n_val: int
    ) -> None:
        self.measuring = True
        self.setText(self._plan_text() + "; estimating the time…")

        args = {"base": s["base"], "classes": classes, "size": s["size"], "device": s["device"]}
        args |= {"batch_size": schedule.batch_size, "n_train": schedule.images, "n_val": n_val}

        def measure() -> estimate.Estimate:  # in a process of its own: it loads torch
            found, _ = run_job("estimate", args, what="the time estimate")
            return estimate.Estimate(**found)

        run_task(self, measure, lambda e: self._done(e, _key(s)), self._failed, "estimate")

    def _done(self, est: estimate.Estimate, key: tuple) -> None:
        self.measuring = False
        self._measured[key] = est
        if self._again is not None:
            again, self._again = self._again, None
            self.update_for(*again)
            return
        self.show_estimate(est)

    def _failed(self, message: str) -> None:
        self.measuring = False
        self._again = None
        self.setText(
            f"{self._plan_text()}; no time estimate "
            f"({message.splitlines()[0] if message else 'failed'})"
        )

    def _plan_text(self) -> str:
        schedule, _n_val, budget = self._plan
        if schedule is None:
            return ""
        limit = f", at most {estimate.format_duration(budget)}" if budget > 0 else ""
        also = ""
        if self._unlabeled:
            also = f", and {self._unlabeled} images without masks (the model's confident pixels)"
        return f"Plan: {schedule.describe()}{also}{limit}"

    def show_estimate(self, est: estimate.Estimate) -> None:
        self.last = est
        schedule, n_val, budget = self._plan
        if schedule is None:
            return
        seconds = estimate.run_seconds(
            est.images_per_second, schedule.samples, schedule.epochs, n_val
        )
        if self._unlabeled:
            seconds *= recipe.UNLABELED_TIME_FACTOR
        if budget > 0 and seconds > budget:
            fit = max(1, int(schedule.total_steps * budget / seconds))  # (cut step by step)
            self.setText(
                f"{self._plan_text()}. ≈ {estimate.format_duration(seconds)} in full, so the "
                f"budget stops it after about {fit} of {schedule.total_steps} steps "
                f"({schedule.with_steps(fit).epochs} of {schedule.epochs} epochs) "
                f"({_source(est)})"
            )
        else:
            self.setText(
                f"{self._plan_text()}. ≈ {estimate.format_duration(seconds)} ({_source(est)})"
            )
