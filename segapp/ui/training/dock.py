"""The "Training" dock of the main window: the Train and Versions tabs, wired to the session.

``install_training(window, session, model_panel, extra_models)`` builds the dock (hidden
until asked for: Model > Train…), keeps both panels on the session's project, saves unsaved
masks before a run, re-lists the model panel when a version is added (the first one ends
"no trained model yet"), and when a version becomes active (promoted after training, or
"Make active") selects it in the model panel, so the next proposal loads its weights; no
restart. It gets the window, the session and the model panel passed in; it never imports
``main_window``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabWidget

from segapp.ml import versions
from segapp.ui.training import promotion
from segapp.ui.training.panel import TrainPanel
from segapp.ui.training.review_panel import ReviewPanel
from segapp.ui.training.versions_panel import VersionsPanel

if TYPE_CHECKING:
    from segapp.ui.labeling.model_panel import ModelPanel
    from segapp.ui.labeling.session import LabelSession

ExtraModels = Callable[[], list[tuple[str, Path, str]]]  # the window's opened model folders

log = logging.getLogger(__name__)

DOCK_HEIGHT = 330
STANDBY_TIP = (
    "Import the training code in a waiting process while you correct masks,\n"
    "so Train's first step comes seconds sooner (7 s on a 2-core CPU).\n"
    "It holds about 0.75 GB of memory while it waits."
)


REVIEW_TIP = (
    "The active version proposes on every corrected image: the masks it disagrees with\n"
    "come first, often drawn unlike the others or with a slip. Double-click one to open it."
)


class TrainingDock(QObject):
    """The dock on ``win``; it proposes through ``model_panel`` and saves through ``session``."""

    def __init__(
        self,
        win: QMainWindow,
        session: LabelSession,
        model_panel: ModelPanel,
        extra_models: ExtraModels,
    ) -> None:
        super().__init__(win)
        self.win, self.session, self.model_panel = win, session, model_panel
        self.extra_models = extra_models
        self.train_panel = TrainPanel()
        self.versions_panel = VersionsPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.train_panel, "Train")
        self.tabs.addTab(self.versions_panel, "Versions")
        self.review_panel = ReviewPanel(session, threshold=model_panel.threshold)
        self.tabs.addTab(self.review_panel, "Review")
        self.dock = QDockWidget("Training", win)
        self.dock.setObjectName("trainingDock")
        self.dock.setWidget(self.tabs)
        self.dock.setAllowedAreas(
            Qt.DockWidgetArea.BottomDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea
        )
        win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()
        self._sized = False
        self._stale = False  # masks were saved while the dock was hidden
        self.dock.visibilityChanged.connect(self._on_visibility)
        self.action = self.dock.toggleViewAction()
        self.action.setText("Train…")
        self.action.setShortcut(QKeySequence("Ctrl+T"))
        self.action.setToolTip("train a model on the corrected images, see its versions (Ctrl+T)")
        win.addAction(self.action)
        # Model > Start each training round ahead: the memory it holds, for the seconds saved
        self.standby_action = QAction("Start each training round ahead", win, checkable=True)
        self.standby_action.setChecked(self.train_panel.standby_enabled)
        self.standby_action.setToolTip(STANDBY_TIP)
        self.standby_action.toggled.connect(self.set_standby)
        # Model > Review masks: the corrected masks the active version disagrees with
        self.review_action = QAction("Review masks against the active version…", win)
        self.review_action.setToolTip(REVIEW_TIP)
        self.review_action.triggered.connect(self.review_masks)
        self._versions_timer = QTimer(self, singleShot=True, interval=500)
        self._versions_timer.timeout.connect(self.versions_panel.refresh)

        s, tp, vp = session, self.train_panel, self.versions_panel
        tp.save_hook = lambda: not s.save_all()
        vp.image_provider = self._current_image
        s.projectChanged.connect(self._on_project)
        s.entryChanged.connect(self._on_entry)
        tp.activeModelChanged.connect(self.use_version)
        vp.activeModelChanged.connect(self.use_version)
        self.tabs.currentChanged.connect(lambda _i: self._review_if_shown())
        tp.versionsChanged.connect(vp.refresh)
        tp.versionsChanged.connect(self.refresh_models)
        tp.runningChanged.connect(self._on_running)
        tp.message.connect(lambda m: win.statusBar().showMessage(m, 10000))
        vp.message.connect(lambda m: win.statusBar().showMessage(m, 8000))
        s.engine.engineReady.connect(self._on_engine)
        self._on_project(s.project)

    def _on_visibility(self, visible: bool) -> None:
        if visible and not self._sized:  # leave most of the height to the image
            self._sized = True
            self.win.resizeDocks([self.dock], [DOCK_HEIGHT], Qt.Orientation.Vertical)
        if visible and self._stale:
            self._stale = False
            self._on_entry("")

    def _current_image(self):
        s = self.session
        doc = s.doc
        return None if doc is None or not s.current else (s.current, doc.image)

    def _on_engine(self, _desc: str) -> None:
        self.versions_panel.device = self.session.engine.device_request

    def _on_project(self, project) -> None:
        adopted = promotion.adopt_newest(project) if project is not None else ""
        self.train_panel.set_project(project)
        self.versions_panel.set_project(project)
        self.action.setEnabled(project is not None)
        if project is None:
            self.dock.hide()
            return
        active = versions.active_version(project)
        if adopted:  # after the session's "opened …", which would replace it
            log.info("%s", adopted)
            bar = self.win.statusBar()
            QTimer.singleShot(0, bar, lambda: bar.showMessage(adopted, 15000))
        if active is not None:  # propose with the active version, not merely the newest
            self.model_panel.select(str(active.path))

    def _on_entry(self, _stem: str) -> None:
        if not self.dock.isVisible():  # (each refresh re-reads the versions' config files)
            self._stale = True
            return
        self.train_panel.schedule_refresh()
        self._versions_timer.start()

    def _on_running(self, running: bool) -> None:
        self.tabs.setTabText(0, "Train (running)" if running else "Train")
        if not running:  # a Review tab in view that waited for the round
            self._review_if_shown()

    def refresh_models(self) -> None:
        """Re-list the model panel's checkpoints, keeping its choice (else the active version)."""
        project = self.session.project
        if project is None:
            return
        mp = self.model_panel
        chosen = mp.model_ref()
        mp.set_models(project.models_dir, self.extra_models())
        if not (chosen and mp.select(chosen)):
            active = versions.active_version(project)
            if active is not None:
                mp.select(str(active.path))

    def use_version(self, path: str) -> None:
        """A version became active: list it in the model panel and propose with it."""
        if self.session.project is None:
            return
        self.refresh_models()
        if not self.model_panel.select(path):
            log.warning("%s: not in the model list", path)
        self.versions_panel.refresh()
        self.train_panel.refresh()
        self._review_if_shown()
        self.win.statusBar().showMessage(f"proposals now use {Path(path).name}", 8000)

    def _review_if_shown(self) -> None:
        """The Review tab in view: read the active version, unless it was read already or,
        the first time, a round is training (a reading would take CPU from its time budget;
        Read still reads, and the round's end brings the reading)."""
        rp = self.review_panel
        if not (self.dock.isVisible() and self.tabs.currentWidget() is rp):
            return
        if rp.version is not None or not self.train_panel.running:
            rp.open_for_active()  # nothing when it read the active version already

    def set_standby(self, on: bool) -> None:
        """Start the next round's process ahead (``TrainProcess.prepare``), or end the one
        waiting and start each round at its click."""
        tp = self.train_panel
        tp.standby_enabled = bool(on)
        if on:
            tp.prepare_standby()
        else:
            tp.process.discard_standby()
        self.standby_action.setChecked(bool(on))

    def show(self) -> None:
        self.dock.show()
        self.dock.raise_()

    def confirm_close(self) -> bool:
        """Closing the window during a run stops it (the best checkpoint so far is kept)."""
        return self._confirm_stop("close")

    def confirm_switch(self) -> bool:
        """Opening a project during a run stops it too: asked, as closing is (it was not)."""
        return self._confirm_stop("open the other project")

    def _confirm_stop(self, then: str) -> bool:
        tp = self.train_panel
        if not tp.running:
            return True
        name = tp.run_project.root.name if tp.run_project is not None else "this project"
        return self.session.confirm(
            "A training is running",
            f"Stop the training of {name} and {then}? The best checkpoint so far is kept as a "
            f"version; it is checked against the active one when you open {name} again, and "
            "becomes active if it does better.",
        )

    def review_masks(self) -> ReviewPanel:
        """The Review tab, shown, reading the active version against the corrected masks."""
        self.dock.show()
        self.tabs.setCurrentWidget(self.review_panel)
        self.review_panel.open_for_active()
        return self.review_panel

    def shutdown(self, then: Callable[[], None]) -> bool:
        """Stop a running training without waiting; True while it ends (``then()`` follows)."""
        return self.train_panel.shutdown(then)


def install_training(
    win: QMainWindow, session: LabelSession, model_panel: ModelPanel, extra_models: ExtraModels
) -> TrainingDock:
    """The Training dock on ``win`` and its action in the Model menu (the window puts the
    action on its toolbar too)."""
    dock = TrainingDock(win, session, model_panel, extra_models)
    model_menu = next(
        (a.menu() for a in win.menuBar().actions() if a.text().replace("&", "") == "Model"), None
    )
    if model_menu is not None:
        model_menu.addSeparator()
        model_menu.addAction(dock.action)
        model_menu.addAction(dock.standby_action)
        model_menu.addAction(dock.review_action)
    return dock
