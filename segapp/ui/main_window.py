"""The labeling window: composes the panels and actions; the logic is in :class:`LabelSession`."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from segapp.ml import job_process
from segapp.ml.spec import ModelError
from segapp.ui.actions import build_actions, build_toolbar
from segapp.ui.canvas.canvas import Canvas
from segapp.ui.elided_label import ElidingStatusBar
from segapp.ui.error_box import ErrorBoxMixin
from segapp.ui.import_export import InteropJob, ask_export, ask_import
from segapp.ui.labeling.autosave import Autosaver
from segapp.ui.labeling.brush_memory import install_brush
from segapp.ui.labeling.class_panel import ClassPanel
from segapp.ui.labeling.click_series import ClickSeries
from segapp.ui.labeling.effort import EffortTracker
from segapp.ui.labeling.image_list import ImageListPanel
from segapp.ui.labeling.model_panel import ModelPanel, read_model_folder
from segapp.ui.labeling.propose_worker import ProposeEngine
from segapp.ui.labeling.session import LabelSession
from segapp.ui.labeling.threshold_memory import install_threshold
from segapp.ui.recent import RecentProjects
from segapp.ui.side_scroll import SideScroll
from segapp.ui.status_readout import StatusReadout
from segapp.ui.tasks import Task, run_task
from segapp.ui.training.dock import install_training
from segapp.ui.welcome import WelcomePage

log = logging.getLogger(__name__)

DEMO_HINT = (
    "Demo: the coin model proposes each unlabeled image's mask as it is shown (Ctrl+P: again); "
    "correct it with the brush (B) or clicks (C), then Train (Ctrl+T)"
)


class MainWindow(ErrorBoxMixin, QMainWindow):
    firstShown = Signal()

    def __init__(
        self,
        settings: QSettings | None = None,
        engine: ProposeEngine | None = None,
        thumbnails: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle("segapp")
        self.settings = settings if settings is not None else QSettings("segapp", "segapp")
        self.recent = RecentProjects(self.settings)
        self._shown_stem = ""  # the image shown (its status notes go when it is left)
        self.session = LabelSession(engine, self)
        self.session.confirm = self.confirm
        self.autosaver = Autosaver(self.session)  # a crash loses at most the last moments
        self.extra_models: list[tuple[str, Path, str]] = []
        self.last_error: tuple[str, str] | None = None
        self.error_box: QMessageBox | None = None
        self._shown = False
        self._demo_task: Task | None = None  # the demo being made
        self._busy = False  # the busy cursor is shown
        self.interop_job: InteropJob | None = None  # the last File > Import / Export

        self.welcome = WelcomePage()
        self.canvas = Canvas()
        self.canvas.setObjectName("canvas")
        self.effort_tracker = EffortTracker(self.canvas, self.session)  # what each mask costs
        self.image_list = ImageListPanel(self.session, thumbnails)
        self.model_panel = ModelPanel()
        self.class_panel = ClassPanel(self.session)
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 0, 0, 0)
        side_lay.addWidget(self.model_panel)
        side_lay.addWidget(self.class_panel)
        side_lay.addStretch(1)
        self.side_scroll = SideScroll(side)  # a low window scrolls them, cuts nothing
        self.splitter = QSplitter()
        self.splitter.addWidget(self.image_list)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.side_scroll)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([220, 800, 280])
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.splitter)
        self.setCentralWidget(self.stack)

        self._build_status_bar()
        self.actions_by_name = build_actions(self)
        tools = build_toolbar(self, self.actions_by_name)
        self.toolbar = tools.bar
        self.opacity_slider, self.islands_spin = tools.opacity_slider, tools.islands_spin
        opacity = self.opacity_slider  # remembered, as the person left it
        opacity.setValue(self.settings.value("opacity", opacity.value(), type=int))
        opacity.valueChanged.connect(lambda v: self.settings.setValue("opacity", v))
        self._connect()
        auto = self.settings.value("propose_on_open", True, type=bool)
        self.actions_by_name["propose_on_open"].setChecked(auto)  # (on: set_propose_on_open)
        mp = self.model_panel  # the Click tool refines with the model that proposes
        self.clicks = ClickSeries(self.session, mp.model_ref, mp.threshold, self)
        self.clicks.attach(self.canvas, self.statusBar())
        tool = self.settings.value("tool", "brush", type=str)  # as the person left it (walk 9)
        self.set_tool(tool if f"tool_{tool}" in self.actions_by_name else "brush")
        self.canvas.toolChanged.connect(lambda name: self.settings.setValue("tool", name))
        # Model > Train…: the Train / Versions dock
        self.training = install_training(
            self, self.session, self.model_panel, lambda: self.extra_models
        )
        self.toolbar.insertAction(tools.loop_end, self.training.action)  # beside Propose
        standby = self.settings.value("train_standby", True, type=bool)  # off in tests
        self.training.set_standby(standby)  # Model > Start each training round ahead
        save = lambda on: self.settings.setValue("train_standby", on)  # noqa: E731
        self.training.standby_action.toggled.connect(save)
        for panel in (self.training.train_panel, self.training.versions_panel):
            panel.activeModelChanged.connect(self.image_list.suggester.prepare)
        self._on_project(None)
        self.resize(1280, 820)

    # ------------------------------------------------------------------ wiring
    def _build_status_bar(self) -> None:
        # a message longer than its room ends in "…", the whole of it in the tooltip
        self.setStatusBar(ElidingStatusBar(self))
        self.readout = r = StatusReadout(self.statusBar())
        self.pos_label, self.value_label = r.pos_label, r.value_label  # (tests read them)
        self.class_label, self.device_label = r.class_label, r.device_label

    def _connect(self) -> None:
        s, w, mp = self.session, self.welcome, self.model_panel
        w.openFolderRequested.connect(self.ask_open_folder)
        w.openProjectRequested.connect(self.ask_open_project)
        w.newProjectRequested.connect(self.ask_new_project)
        w.demoRequested.connect(self.open_demo)
        w.recentRequested.connect(self.open_path)
        s.projectChanged.connect(self._on_project)
        s.currentChanged.connect(self._on_current)
        s.currentChanged.connect(self._remember_image)
        s.documentReady.connect(self._on_current)
        s.documentEdited.connect(self._update_title)
        s.documentEdited.connect(self._update_cursor_info)  # a fill or an undo under the cursor
        s.classesChanged.connect(self._apply_colors)
        s.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        s.error.connect(self.show_error)
        s.proposalBusy.connect(mp.set_busy)
        s.batchRunning.connect(mp.set_batch_running)
        s.batchProgress.connect(mp.set_progress)
        s.engine.engineReady.connect(self._on_engine_ready)
        s.engine.engineFailed.connect(lambda m: self.show_error("Model engine", m))
        mp.proposeRequested.connect(self.propose)
        mp.proposeAllRequested.connect(self.propose_all)
        mp.cancelRequested.connect(s.cancel_batch)
        mp.trainRequested.connect(lambda: self.training.show())
        mp.openModelRequested.connect(self.ask_open_model)
        install_threshold(s, mp, self.recent)  # remembered per project, said per image
        # the engine builds the chosen model at once (a list refill emits several changes)
        self._prepare_timer = QTimer(self, singleShot=True, interval=0)
        self._prepare_timer.timeout.connect(lambda: s.prepare_model(mp.model_ref()))
        mp.modelChanged.connect(self._prepare_timer.start)
        # a version that became active proposes on the image shown if it has no mask yet
        mp.modelChanged.connect(lambda _ref: self._propose_on_open())
        self.class_panel.classPicked.connect(lambda i: self._update_cursor_info())
        c = self.canvas
        c.cursorMoved.connect(self._on_cursor)
        c.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        c.zoomChanged.connect(lambda z: self.readout.zoom_label.setText(f"{z * 100:.0f}%"))
        install_brush(s, c, self.readout, self.settings)  # in scale, and remembered
        c.editFinished.connect(self._update_title)
        c.toolChanged.connect(lambda _name: self._update_cursor_info())  # eraser: "erase to"

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            self.firstShown.emit()
            # the engine (torch) loads in its thread once the window is up
            QTimer.singleShot(0, self.session.engine.start)

    def closeEvent(self, event) -> None:
        if not self.training.confirm_close() or not self.session.close_project():
            event.ignore()
            return
        if self.training.shutdown(then=self.close):  # closes again once the run has ended
            self.statusBar().showMessage("stopping the training (its best checkpoint is kept)…")
            self.setCursor(Qt.CursorShape.BusyCursor)
            event.ignore()
            return
        self._set_busy(False)
        self.settings.setValue("geometry", self.saveGeometry())
        self.session.engine.shutdown()
        self.session.prefetcher.shutdown()
        self.image_list.shutdown()
        job_process.kill_all()  # a version check, a time estimate, a comparison in flight
        event.accept()

    # ------------------------------------------------------------------ dialogs
    def confirm(self, title: str, text: str) -> bool:
        """A yes/no question (tests replace ``session.confirm``)."""
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def ask_open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if path:
            self.open_path(path)

    def ask_open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a project", "", "segapp project (segapp.json)"
        )
        if path:
            self.open_path(str(Path(path).parent))

    def ask_new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "New project: choose the folder of images")
        if not folder or not self.training.confirm_switch():
            return
        text, ok = QInputDialog.getText(
            self,
            "Classes",
            "Leave empty for a binary mask (background / foreground), or list the classes "
            "separated by commas, background first:",
        )
        if ok:
            names = [n.strip() for n in text.split(",") if n.strip()]
            self.extra_models = []
            if self.session.new_project(folder, names or None):
                self._remember(self.session.project.root)

    def ask_import(self) -> None:
        """File > Import… (segapp/ui/import_export.py)."""
        self.interop_job = ask_import(self)

    def ask_export(self) -> None:
        """File > Export… (segapp/ui/import_export.py)."""
        self.interop_job = ask_export(self)

    def ask_open_model(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open a trained model folder (config.json + model.safetensors)"
        )
        if path:
            self.add_model_folder(path)

    # ------------------------------------------------------------------ projects
    def open_path(self, path: str | Path, extra_models=()) -> bool:
        """Open a folder or project, on the image last shown in it (if still there); asks
        first when that would stop a training run."""
        if not self.training.confirm_switch():
            return False
        self.extra_models = list(extra_models)
        start = self.recent.last_image(path)
        ok = self.session.open_project(path, start)
        if ok:
            self._remember(self.session.project.root)
        return ok

    def _remember_image(self, stem: str) -> None:
        if self.session.project is not None and stem:
            self.recent.shown(self.session.project.root, stem)

    def open_demo(self) -> bool:
        """Open the demo; made first (scikit-image's watershed) in a thread: True when it
        opened or is being made."""
        from segapp.demo import demo_project_ready, ensure_demo_project

        if demo_project_ready():
            return self._open_demo(ensure_demo_project())
        if self._demo_task is not None and self._demo_task.running:
            return True
        self.statusBar().showMessage("preparing the demo…")
        self.setCursor(Qt.CursorShape.BusyCursor)

        def failed(message: str) -> None:
            self.unsetCursor()
            self.show_error("The demo is not available", message)

        self._demo_task = run_task(self, ensure_demo_project, self._open_demo, failed, "demo")
        return True

    def _open_demo(self, root: Path) -> bool:
        from segapp.demo import demo_model

        self.unsetCursor()
        model = demo_model()
        extra = [("demo model (coins)", model, "unet-small trained on the coins")] if model else []
        opened = self.open_path(root, extra)
        if opened:
            self.statusBar().showMessage(DEMO_HINT, 30_000)
        return opened

    def add_model_folder(self, folder: str | Path) -> bool:
        """List a trained checkpoint folder in the model picker (for this project) and select it."""
        project = self.session.project
        if project is None:
            return False
        try:
            entry = read_model_folder(Path(folder).resolve(), project.num_classes)
        except ModelError as e:
            self.show_error("Not a trained model folder", str(e))
            return False
        self.extra_models = [m for m in self.extra_models if m[1] != entry[1]] + [entry]
        self.model_panel.set_models(project.models_dir, self.extra_models)
        self.model_panel.select(str(entry[1]))
        self.statusBar().showMessage(f"proposals now use {entry[0]}", 8000)
        return True

    def _remember(self, root: Path) -> None:
        self.recent.opened(root)

    def recent_projects(self) -> list[str]:
        return self.recent.projects()

    def _on_project(self, project) -> None:
        self.stack.setCurrentIndex(0 if project is None else 1)
        self.toolbar.setVisible(project is not None)
        names = ("save", "close", "export", "propose", "propose_all", "open_model", "next")
        names += ("mark_corrected",)
        for name in (*names, "previous"):
            self.actions_by_name[name].setEnabled(project is not None)
        if project is None:
            self.welcome.set_recent(self.recent_projects())
            self.canvas.set_document(None)
        else:
            self.model_panel.set_models(project.models_dir, self.extra_models)
            self.model_panel.set_binary(project.is_binary)
            self.session.set_active_class(1 if project.num_classes > 1 else 0)
            self._apply_colors()
        self._update_title()

    def _apply_colors(self) -> None:
        project = self.session.project
        if project is not None:
            self.canvas.set_colors([tuple(c.color) for c in project.classes])
            self.class_panel.show_active(self.session.active_class)

    def _on_current(self, stem: str) -> None:
        left, self._shown_stem = self._shown_stem, stem
        said = self.statusBar().currentMessage()  # a note about the image left goes with it
        about_left = (f"{left} ", f"{left}:", f"cannot show {left}:")
        if left and left != stem and said.startswith(about_left):
            self.statusBar().clearMessage()  # ("164 is corrected already" stayed on 166)
        ds = self.session.state
        doc = ds.doc if ds is not None else None
        self.canvas.set_document(doc, ds.display if ds is not None else None)
        if doc is None:  # no zoom figure of the image before (walk-through 10)
            self.readout.zoom_label.setText("")
        loading = doc is None and stem != "" and self.session.loading == stem
        why = self.session.why_unreadable(stem) if doc is None and not loading else ""
        self.canvas.set_placeholder(f"loading {stem}…" if loading else why)
        self._set_busy(loading)
        self._update_title()
        self._update_cursor_info()
        if doc is not None:
            self._propose_on_open()

    def _propose_on_open(self) -> None:
        self.session.propose_on_open(self.model_panel.model_ref(), self.model_panel.threshold())

    def set_propose_on_open(self, on: bool) -> None:
        """Model > Propose on opening an unlabeled image (remembered)."""
        self.session.auto_propose = on
        self.settings.setValue("propose_on_open", on)
        if on:
            self._propose_on_open()

    def _set_busy(self, busy: bool) -> None:
        """The busy cursor while the shown image is being read (the window keeps working)."""
        if busy != self._busy:
            self._busy = busy
            if busy:
                QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
            else:
                QApplication.restoreOverrideCursor()

    def _update_title(self) -> None:
        p, doc = self.session.project, self.session.doc
        parts = ["segapp"]
        if p is not None:
            parts.append(p.root.name)
            if self.session.current:
                parts.append(self.session.current + (" •" if doc is not None and doc.dirty else ""))
        self.setWindowTitle(" — ".join(parts))
        a = self.actions_by_name
        a["undo"].setEnabled(bool(doc and doc.can_undo))
        a["redo"].setEnabled(bool(doc and doc.can_redo))

    # ------------------------------------------------------------------ actions
    def propose(self) -> None:
        self.session.propose_current(self.model_panel.model_ref(), self.model_panel.threshold())

    def propose_all(self) -> None:
        self.session.propose_all(self.model_panel.model_ref(), self.model_panel.threshold())

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.actions_by_name[f"tool_{tool}"].setChecked(True)

    def pick_class(self, index: int) -> None:
        self.class_panel.pick(index)

    def cleanup(self, op: str) -> None:
        self.session.cleanup(op, self.islands_spin.value())

    def _on_engine_ready(self, device: str) -> None:
        self.readout.device_label.setText(device)
        self.model_panel.set_device(device)
        if not self.statusBar().currentMessage():  # the device label says it too: a hint stays
            self.statusBar().showMessage(f"model engine ready on {device}", 5000)

    def _on_cursor(self, x: int, y: int) -> None:
        self.readout.cursor = (x, y)
        self._update_cursor_info()

    def _update_cursor_info(self) -> None:
        erasing = self.canvas.tool() == "eraser"
        self.readout.show_pixel(
            self.session.doc, self.session.project, self.session.active_class, erasing
        )
