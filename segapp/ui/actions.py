"""Menus, toolbar and keyboard shortcuts of the main window (one table, no logic)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QSlider, QSpinBox, QToolBar

if TYPE_CHECKING:
    from segapp.ui.main_window import MainWindow

TOOLS = [("brush", "Brush", "B"), ("eraser", "Eraser", "E"), ("fill", "Fill", "F")]
TOOLS += [("polygon", "Polygon", "P")]


def _slider(lo: int, hi: int, value: int, width: int = 90) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setMaximumWidth(width)
    return s


def build_actions(win: MainWindow) -> dict[str, QAction]:
    """Create every action of ``win``; returns them by name."""
    s, c = win.session, win.canvas
    acts: dict[str, QAction] = {}

    def act(
        name: str,
        text: str,
        slot: Callable,
        keys: str | QKeySequence.StandardKey | list | None = None,
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        a = QAction(text, win)
        if keys is not None:
            seqs = keys if isinstance(keys, list) else [keys]
            a.setShortcuts([QKeySequence(k) for k in seqs])
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            a.setToolTip(tip)
        a.setCheckable(checkable)
        (a.toggled if checkable else a.triggered).connect(slot)
        win.addAction(a)
        acts[name] = a
        return a

    mb = win.menuBar()
    m = mb.addMenu("&File")
    m.addAction(act("open_folder", "Open folder…", win.ask_open_folder, "Ctrl+O"))
    m.addAction(act("open_project", "Open project…", win.ask_open_project, "Ctrl+Shift+O"))
    m.addAction(act("new_project", "New project…", win.ask_new_project, "Ctrl+N"))
    m.addAction(act("demo", "Try the demo", win.open_demo))
    m.addSeparator()
    m.addAction(act("save", "Save", s.save, "Ctrl+S", "save this mask (Ctrl+S)"))
    m.addAction(act("close", "Close project", s.close_project, "Ctrl+W"))
    m.addSeparator()
    m.addAction(act("quit", "Quit", win.close, "Ctrl+Q"))

    m = mb.addMenu("&Edit")
    m.addAction(act("undo", "Undo", s.undo, "Ctrl+Z", "undo (Ctrl+Z)"))
    m.addAction(act("redo", "Redo", s.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "redo (Ctrl+Shift+Z)"))

    m = mb.addMenu("&Tools")
    group = QActionGroup(win)
    for tool, text, key in TOOLS:
        a = act(
            f"tool_{tool}", text, lambda _c=False, t=tool: c.set_tool(t), key, f"{text} ({key})"
        )
        a.setCheckable(True)
        group.addAction(a)
        m.addAction(a)
    acts["tool_brush"].setChecked(True)
    m.addSeparator()
    for i in range(10):
        act(f"class_{i}", f"Class {i}", lambda _c=False, i=i: win.pick_class(i), str(i))

    m = mb.addMenu("&Mask")
    m.addAction(
        act(
            "fill_holes",
            "Fill holes",
            lambda: win.cleanup("fill_holes"),
            None,
            "fill holes enclosed by the active class",
        )
    )
    m.addAction(
        act(
            "remove_islands",
            "Remove islands",
            lambda: win.cleanup("remove_islands"),
            None,
            "remove pieces of the active class smaller than N px",
        )
    )
    m.addAction(
        act(
            "grow",
            "Grow 1 px",
            lambda: win.cleanup("grow"),
            None,
            "dilate the active class by 1 px",
        )
    )
    m.addAction(
        act(
            "shrink",
            "Shrink 1 px",
            lambda: win.cleanup("shrink"),
            None,
            "erode the active class by 1 px",
        )
    )

    m = mb.addMenu("&View")
    m.addAction(act("fit", "Fit to window", c.fit, "Ctrl+0"))
    m.addAction(act("zoom_1to1", "Actual pixels (1:1)", c.zoom_1to1, "Ctrl+1"))
    m.addAction(act("zoom_in", "Zoom in", lambda: c.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn))
    m.addAction(
        act("zoom_out", "Zoom out", lambda: c.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
    )
    m.addSeparator()
    overlay = act(
        "overlay", "Show mask", c.set_overlay_visible, "X", "show / hide the mask (X)", True
    )
    overlay.setChecked(True)
    m.addAction(overlay)
    m.addAction(act("outline", "Outline only", c.set_outline_mode, "O", "outline mode (O)", True))

    m = mb.addMenu("&Model")
    m.addAction(act("propose", "Propose mask", win.propose, "Ctrl+P", "propose a mask (Ctrl+P)"))
    m.addAction(act("propose_all", "Propose all unlabeled", win.propose_all, "Ctrl+Shift+P"))
    m.addAction(act("cancel_batch", "Cancel proposing", s.cancel_batch))
    m.addSeparator()
    m.addAction(
        act(
            "open_model",
            "Open model folder…",
            win.ask_open_model,
            None,
            "propose with a trained checkpoint folder (config.json + model.safetensors)",
        )
    )

    m = mb.addMenu("&Go")
    m.addAction(act("next", "Next image", lambda: win.image_list.step(1), "D"))
    m.addAction(act("previous", "Previous image", lambda: win.image_list.step(-1), "A"))
    for name in ("unlabeled", "proposed", "corrected"):
        m.addAction(
            act(
                f"show_{name}",
                f"Show {name} only",
                lambda _c=False, n=name: win.image_list.set_filter(n),
            )
        )
    m.addAction(act("show_all", "Show all images", lambda: win.image_list.set_filter(None)))

    tb = QToolBar("Tools")
    tb.setObjectName("toolsToolbar")
    tb.setMovable(False)
    win.addToolBar(tb)
    win.toolbar = tb
    tb.addAction(acts["save"])
    tb.addAction(acts["undo"])
    tb.addAction(acts["redo"])
    tb.addSeparator()
    for tool, _t, _k in TOOLS:
        tb.addAction(acts[f"tool_{tool}"])
    tb.addSeparator()
    tb.addAction(acts["overlay"])
    tb.addAction(acts["outline"])
    tb.addWidget(QLabel(" opacity "))
    win.opacity_slider = _slider(0, 100, 50)
    win.opacity_slider.setToolTip("mask opacity")
    win.opacity_slider.valueChanged.connect(lambda v: c.set_overlay_opacity(v / 100.0))
    c.set_overlay_opacity(0.5)
    tb.addWidget(win.opacity_slider)
    tb.addSeparator()
    tb.addAction(acts["fill_holes"])
    tb.addAction(acts["remove_islands"])
    win.islands_spin = QSpinBox()
    win.islands_spin.setRange(1, 1_000_000)
    win.islands_spin.setValue(50)
    win.islands_spin.setPrefix("< ")
    win.islands_spin.setSuffix(" px")
    win.islands_spin.setToolTip("Remove islands: smallest piece kept")
    tb.addWidget(win.islands_spin)
    tb.addAction(acts["grow"])
    tb.addAction(acts["shrink"])
    tb.addSeparator()
    tb.addAction(acts["propose"])
    return acts
