"""The training panel: settings, Train / Stop / Cancel, live curves, and what happens after.

Trains on the images marked corrected (``versions.training_selection``) in a separate
``segapp train`` process (:class:`TrainProcess`) writing the next version folder
(``models/v00N``). When the run ends, the new version is scored against the active one
on the same validation images in a process of its own (``promotion``); if it is better it
becomes active and ``activeModelChanged(path)`` tells the window, so the next proposal
uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QWidget,
)

from segapp.core.image_size import image_sizes
from segapp.core.project import Project
from segapp.ml import recipe, unfinished, versions
from segapp.ui.folding_label import FoldingLabel
from segapp.ui.tasks import remove_folder
from segapp.ui.training.accelerator_probe import AcceleratorProbe
from segapp.ui.training.describe import (
    MIN_IMAGES,
    budget_note,
    no_validation_note,
    what_train_will_do,
)
from segapp.ui.training.estimate import EstimateLabel
from segapp.ui.training.form import TrainForm
from segapp.ui.training.mask_depth import MaskDepth
from segapp.ui.training.panel_layout import lay_out
from segapp.ui.training.panel_promotion import PromotionSteps
from segapp.ui.training.process import TrainProcess
from segapp.ui.training.run_progress import RunProgress

log = logging.getLogger(__name__)


STANDBY_AFTER_RUN_MS = 15_000


class TrainPanel(PromotionSteps, QWidget):
    activeModelChanged = Signal(str)  # checkpoint folder of the new active version
    versionsChanged = Signal()  # a version was added (or the active one changed)
    runningChanged = Signal(bool)
    message = Signal(str)  # for the status bar

    def __init__(
        self, parent=None, auto_estimate: bool = True, standby: bool | None = None
    ) -> None:
        """``auto_estimate``: measure a run's time in the background; ``standby`` (default:
        the same): start the next run's process ahead (``TrainProcess.prepare``)."""
        super().__init__(parent)
        self.standby_enabled = auto_estimate if standby is None else standby
        self.project: Project | None = None
        self.save_hook: Callable[[], bool] | None = None  # save unsaved masks before a run
        self.process = TrainProcess(self)
        self.plots = None  # TrainPlots, built when first shown (pyqtgraph imports slowly)
        self.run_dir: Path | None = None
        self.run_project: Project | None = None
        self.val_stems: list[str] = []
        self.last_result: tuple[bool, float, float | None] | None = None
        self.scoring = False
        self._versions: list[versions.ModelVersion] = []  # as of the last refresh
        self._split_counts = (0, 0)  # (train, val) corrected images, as of the last refresh
        self._build_widgets(auto_estimate)
        lay_out(self)
        self._connect_signals()
        self._update_buttons()

    def _build_widgets(self, auto_estimate: bool) -> None:
        self.form = TrainForm()
        self.depths = MaskDepth(self, self._on_depths_read)
        self.form.mask_depth = self.depths.depth
        self.form.depth_pending = self.depths.pending
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.estimate_label = EstimateLabel(auto_measure=auto_estimate)
        self.accelerator_probe = AcceleratorProbe(self, enabled=auto_estimate)
        self.train_btn = QPushButton("Train")
        self.train_btn.setObjectName("trainButton")
        self.train_btn.setToolTip("train a new version on the corrected images")
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("stop after this batch and keep the best checkpoint")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("stop now and discard this run")
        self.run_progress = RunProgress(self)
        self.progress, self.epoch_label = self.run_progress.bar, self.run_progress.label
        self.status_label = FoldingLabel()
        self.error_label = FoldingLabel()
        self.error_label.setObjectName("trainError")
        self.error_label.setStyleSheet("color: #b00020")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _connect_signals(self) -> None:
        self.train_btn.clicked.connect(self.start_training)
        self.stop_btn.clicked.connect(self.stop_training)
        self.cancel_btn.clicked.connect(self.cancel_training)
        p = self.process
        p.batch.connect(self._on_batch)
        p.epoch.connect(self._on_epoch)
        p.finished.connect(self._on_finished)
        p.failed.connect(self._on_failed)
        p.cancelled.connect(self._on_cancelled)
        self._refresh_timer = QTimer(self, singleShot=True, interval=300)
        self._refresh_timer.timeout.connect(self.refresh)
        self._estimate_timer = QTimer(self, singleShot=True, interval=600)
        self._estimate_timer.timeout.connect(self.update_estimate)
        self.form.settingsChanged.connect(self._estimate_timer.start)
        self.accelerator_probe.answered.connect(self.refresh)  # a GPU's batches are larger

    # ------------------------------------------------------------------ project
    def set_project(self, project: Project | None) -> None:
        if project is self.project:
            return
        if self.process.running:  # the run goes on to its end, keeping its best checkpoint
            self.process.stop()
        self.project = project
        self.form.forget_base_choice()
        self.refresh()
        self._check_unchecked()
        self.prepare_standby()

    def refresh(self) -> None:
        """Re-read versions and corrected images (after a save, a new version ...)."""
        project = self.project
        self._versions, self._split_counts = [], (0, 0)
        if project is None:
            self.depths.set_entries(None, [])
            self.form.set_versions([], None)
            self.data_label.setText("Open a project to train a model.")
        else:
            self._versions = versions.list_versions(project)
            active = versions.active_version(project, self._versions)
            self.form.set_versions(self._versions, active and active.name)
            train, val = versions.plan_split(project)
            self._split_counts = (len(train), len(val))
            if not self.running:  # a run's plot says what that run validates on
                self._say_validation(len(val))
            corrected = [project.entry(s) for s in train + val]
            self.depths.set_entries(project, corrected)
            self.form.set_image_sizes(image_sizes(e.image_path for e in corrected))
            said = what_train_will_do(len(train), len(val), corrected, self.running)
            self.data_label.setText(said)
        self._update_buttons()
        self._estimate_timer.start()

    def _on_depths_read(self) -> None:
        self.form.describe_resize()
        self._estimate_timer.start()

    def schedule_refresh(self) -> None:
        """Refresh soon (masks saved one after another refresh once)."""
        self._refresh_timer.start()

    # ------------------------------------------------------------------ plots
    def ensure_plots(self):
        if self.plots is None:
            from segapp.ui.training.plots import TrainPlots

            self.plots = TrainPlots()
            self.plots.set_epochs(self.planned_epochs())
            self._say_validation(self._split_counts[1])
            self.plot_area.addWidget(self.plots)
        return self.plots

    def _say_validation(self, images: int) -> None:
        if self.plots is not None:
            self.plots.set_no_validation(no_validation_note(images))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.ensure_plots)
        self._estimate_timer.start()
        QTimer.singleShot(0, self, self.prepare_standby)  # a run may well follow

    def prepare_standby(self) -> None:
        """Start the next run's process ahead while the panel shows a project."""
        if self.standby_enabled and self.project is not None and self.isVisible():
            self.process.prepare()

    # ------------------------------------------------------------------ estimate
    def update_estimate(self) -> None:
        """Time per epoch before a run: from an earlier version, else measured in a thread."""
        if self.project is None or self.process.running or not self.isVisible():
            return
        if self.form.resize_pending():  # estimated once the masks are read
            return
        try:
            settings = self.form.values()
        except ValueError:
            return
        if self.accelerator_probe.pending(str(settings.get("device") or "auto")):
            self.estimate_label.setText("Plan: checking whether this machine has a GPU…")
            return  # planned for the CPU, the first second would show the wrong batches
        n_train, n_val = self._split_counts
        schedule = self.plan(settings)
        budget = settings["time_budget"]
        if budget is None:
            budget = recipe.default_time_budget(n_train)
        others = len(self.project.entries) - n_train - n_val  # neither training nor validation
        self.estimate_label.update_for(
            self._versions, self.project.num_classes, settings, schedule, n_val, budget, others
        )
        if self.plots is not None and not self.process.running:
            self.plots.set_epochs(self.planned_epochs())

    def plan(self, settings: dict, n_train: int | None = None) -> recipe.Schedule | None:
        """The schedule a run with these settings would get on ``n_train`` images (default:
        the last refresh's count); None below 1 training image."""
        n_train = self._split_counts[0] if n_train is None else n_train
        if n_train < 1:
            return None
        accelerator = self.accelerator_probe.on_gpu(str(settings.get("device") or "auto"))
        return recipe.plan_schedule(
            n_train, settings["batch_size"], settings["epochs"], accelerator=accelerator
        )

    def planned_epochs(self) -> int:
        try:
            schedule = self.plan(self.form.values(wait=False))
        except ValueError:
            schedule = None
        return schedule.epochs if schedule else 1

    # ------------------------------------------------------------------ run
    def start_training(self) -> bool:
        """Start a run with the form's settings; False (and a message) if it cannot."""
        project = self.project
        if project is None or self.process.running or self.scoring:
            return False
        self.error_label.setText("")
        try:
            settings = self.form.values()
        except ValueError as e:
            self._error(str(e))
            return False
        if self.save_hook is not None and not self.save_hook():
            self._error("some masks could not be saved; fix that first (see the status bar)")
            return False
        if len(project.corrected()) < MIN_IMAGES:
            self._error(f"correct at least {MIN_IMAGES} masks first")
            return False
        try:
            train, val = versions.training_selection(project)
            self.run_dir = versions.next_version_dir(project)
            argv = versions.train_command(
                project, self.run_dir, train_stems=train, val_stems=val, **settings
            )
            unfinished.mark_unchecked(project, self.run_dir.name)
        except Exception as e:  # noqa: BLE001 - a read-only folder, a full disk ...
            self._error(f"cannot prepare the run: {e}")
            return False
        self.val_stems = val
        self.run_project = project
        plan = self.plan(settings, len(train))
        epochs = plan.epochs
        plots = self.ensure_plots()
        plots.clear()
        plots.set_epochs(epochs)
        self._say_validation(len(val))
        self.last_result = None
        self.run_progress.start(epochs, plan.total_steps)
        self.status_label.setText(
            f"training {self.run_dir.name} on {len(train)} images "
            + (f"({len(val)} to validate)" if val else "(no validation subset yet)")
        )
        self.estimate_label.hide()  # the progress line tells the time from now on
        self.process.start(argv, self.run_dir)
        self.refresh()  # what Train will do now speaks of the next run
        self._update_buttons()
        self.runningChanged.emit(True)
        return True

    def stop_training(self) -> None:
        if self.process.running:
            self.process.stop()
            self.status_label.setText("stopping after this batch (the best checkpoint is kept)…")
            self._update_buttons()

    def cancel_training(self) -> None:
        if self.process.running:
            self.status_label.setText("cancelling…")
            self.process.cancel()

    def shutdown(self, then: Callable[[], None]) -> bool:
        """The window closes: stop the run gracefully (kill after a few seconds); True while
        it is still ending (``then()`` follows), without waiting for it."""
        return self.process.shutdown(then)

    @property
    def running(self) -> bool:
        return self.process.running

    def _on_batch(self, batch: int, batches: int, loss: float, step: int, steps: int) -> None:
        epoch = len(self.process.epochs) + 1
        self.ensure_plots().add_batch(epoch, batch, batches, loss)
        self.run_progress.batch(epoch, batch, batches, step, steps)
        self._say_budget()  # the bar's step count and the status line's agree at every step

    def _on_epoch(self, msg: dict) -> None:
        self.ensure_plots().add_epoch(msg)
        progress = self.run_progress
        if progress.epoch(msg):  # the time budget shortened the run
            self.ensure_plots().set_epochs(progress.epochs)
        self._say_budget()

    def _say_budget(self) -> None:
        progress = self.run_progress
        if progress.budget_cut and not self.process.stopping:
            said = budget_note(self.status_label.text(), progress.steps, progress.steps_planned)
            self.status_label.setText(said)

    def _run_ended(self) -> None:
        # the next round's process, once the version is checked and proposes (2 cores)
        QTimer.singleShot(STANDBY_AFTER_RUN_MS, self, self.prepare_standby)
        self.run_progress.stop()
        self.estimate_label.setText("")  # until the next estimate (settings may have changed)
        self.estimate_label.show()
        self._update_buttons()
        self.runningChanged.emit(False)

    def _has_checkpoint(self) -> bool:
        d = self.run_dir
        return d is not None and (d / versions.WEIGHTS_FILE).exists()

    def _on_finished(self, done: dict | None) -> None:
        self._run_ended()
        name = self.run_dir.name if self.run_dir else "?"
        if not self._has_checkpoint():
            self._discard_run()
            self._error("the run ended without a checkpoint")
            return
        self.run_progress.finish(bool(done and done.get("stopped")))
        self.versionsChanged.emit()
        self.refresh()
        stopped = " (stopped)" if done and done.get("stopped") else ""
        self.status_label.setText(
            f"{name} trained{stopped}; scoring it against the active version…"
        )
        left_out = (done or {}).get("left_out") or []
        if left_out:  # a broken mask does not stop the round: it says which, and why
            more = f" (and {len(left_out) - 1} more)" if len(left_out) > 1 else ""
            self._error(
                f"{len(left_out)} corrected image(s) left out of this round: {left_out[0]}{more}"
            )
        self._promote()

    def _on_failed(self, message: str) -> None:
        self._run_ended()
        self._error(message)
        if self._has_checkpoint():
            self.status_label.setText(
                f"the best checkpoint so far is kept as {self.run_dir.name} (see Versions)"
            )
            self.versionsChanged.emit()
            self.refresh()
        else:
            self._discard_run()
            self.status_label.setText("the run failed; no version was added")

    def _on_cancelled(self) -> None:
        self._run_ended()
        name = self.run_dir.name if self.run_dir else ""
        if self.run_project is not None and name:
            unfinished.clear_unchecked(self.run_project, name)
        self.status_label.setText(f"cancelled; {name} discarded")
        self.epoch_label.setText("")
        self.run_dir = None
        self.refresh()

    def _discard_run(self) -> None:
        if self.run_dir is not None:
            remove_folder(self.run_dir)
            if self.run_project is not None:
                unfinished.clear_unchecked(self.run_project, self.run_dir.name)
        self.run_dir = None

    def _error(self, text: str) -> None:
        self.error_label.setText(text)
        self.message.emit(f"training: {text.splitlines()[0] if text else ''}")

    def _update_buttons(self) -> None:
        running = self.process.running
        self.train_btn.setEnabled(
            self.project is not None
            and not running
            and not self.scoring
            and len(self.project.corrected()) >= MIN_IMAGES
        )
        self.stop_btn.setEnabled(running and not self.process.stopping)
        self.cancel_btn.setEnabled(running)
        self.form.setEnabled(not running)
