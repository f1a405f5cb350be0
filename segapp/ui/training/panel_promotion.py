"""The Train panel's steps after a run: the new version scored against the active one off
the GUI thread (``promotion.score_in_thread``), the choice recorded and said, and a version
whose run ended while its project was closed checked on the next open.

A mixin of :class:`~segapp.ui.training.panel.TrainPanel`: it reads and sets the panel's run
(``run_project``, ``run_dir``, ``val_stems``), ``scoring`` and ``last_result``, and speaks
through its status line and signals.
"""

from __future__ import annotations

from pathlib import Path

from segapp.core.project import Project
from segapp.ml import unfinished
from segapp.ui.training import promotion


class PromotionSteps:
    """Scoring and recording a trained version, for the Train panel."""

    def _promote(self) -> None:
        project, new, val = self.run_project, self.run_dir, list(self.val_stems)
        if project is None or new is None:
            return
        if project is not self.project:  # the project was closed meanwhile: it stays as is
            self.status_label.setText(f"{new.name} trained in {project.root.name}")
            return
        self.scoring = True
        self._update_buttons()
        promotion.score_in_thread(
            self,
            project,
            new,
            val,
            self.form.device_combo.currentText(),
            lambda r: self._promoted(project, new, r),
            lambda m: self._promote_failed(new, m),
        )

    def _promoted(self, project: Project, new: Path, result: promotion.Result | None) -> None:
        self.scoring = False
        if result is not None:
            self.last_result = result
        if result is None or project is not self.project:  # checked on its next open
            self._update_buttons()
            return
        text, activated = promotion.record(project, new, result, len(self.val_stems))
        unfinished.clear_unchecked(project, new.name)
        if activated:
            self.activeModelChanged.emit(str(new))
        self.status_label.setText(text)
        self.message.emit(text)
        self.versionsChanged.emit()
        self.refresh()

    def _promote_failed(self, new: Path, message: str) -> None:
        self.scoring = False
        if self.run_project is not None:  # said once, not on every open
            unfinished.clear_unchecked(self.run_project, new.name)
        self._error(f"could not score {new.name}: {message}")
        self._update_buttons()

    def _check_unchecked(self) -> None:
        """Score a version whose run ended while the window was closed (or the project
        switched) against the active one now, as a finished run would have been."""
        project = self.project
        if project is None or self.running or self.scoring:
            return
        pending = promotion.unchecked_run(project)
        if pending is not None:
            self.run_dir, self.val_stems, said = pending
            self.run_project = project
            self.status_label.setText(said)
            self._promote()
