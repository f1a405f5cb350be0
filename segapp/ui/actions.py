"""Menus, toolbar and keyboard shortcuts of the main window (one table, no logic).

The window passes itself as an :class:`ActionHost`: what the menus call, nothing more, so
this module never imports ``main_window`` back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QMenuBar,
    QSlider,
    QSpinBox,
    QToolBar,
    QToolButton,
    QWidget,
    QWidgetAction,
)

from segapp.ui.jump_slider import jump_slider
from segapp.ui.save_elsewhere import ask_save_unsaved_elsewhere

if TYPE_CHECKING:
    from segapp.ui.canvas.canvas import Canvas
    from segapp.ui.labeling.image_list import ImageListPanel
    from segapp.ui.labeling.session import LabelSession


class ActionHost(Protocol):
    """What the actions need from the window (a QMainWindow with these handlers)."""

    session: LabelSession
    canvas: Canvas
    image_list: ImageListPanel

    def menuBar(self) -> QMenuBar: ...
    def addAction(self, action: QAction) -> None: ...
    def addToolBar(self, toolbar: QToolBar) -> None: ...
    def close(self) -> bool: ...
    def ask_open_folder(self) -> None: ...
    def ask_open_project(self) -> None: ...
    def ask_new_project(self) -> None: ...
    def ask_open_model(self) -> None: ...
    def ask_import(self) -> None: ...
    def ask_export(self) -> None: ...
    def open_demo(self) -> bool: ...
    def propose(self) -> None: ...
    def propose_all(self) -> None: ...
    def pick_class(self, index: int) -> None: ...
    def cleanup(self, op: str) -> None: ...


@dataclass
class Toolbar:
    """The tools toolbar and the two controls on it the window reads."""

    bar: QToolBar
    opacity_slider: QSlider
    islands_spin: QSpinBox
    loop_end: QAction  # the separator after Propose: Train goes before it


TOOLS = [("brush", "Brush", "B"), ("eraser", "Eraser", "E"), ("fill", "Fill", "F")]
TOOLS += [("polygon", "Polygon", "P"), ("click", "Click", "C")]


def _slider(lo: int, hi: int, value: int, width: int = 90) -> QSlider:
    s = jump_slider()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setMaximumWidth(width)
    s.setMinimumWidth(min(width, 60))  # a narrow window's toolbar shrank it to a nub
    return s


class _Actions:
    """Creates the window's QActions (shortcut, tip, slot) and keeps them by name."""

    def __init__(self, win: ActionHost) -> None:
        self.win = win
        self.by_name: dict[str, QAction] = {}

    def __call__(
        self,
        name: str,
        text: str,
        slot: Callable,
        keys: str | QKeySequence.StandardKey | list | None = None,
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        a = QAction(text, self.win)
        if keys is not None:
            seqs = keys if isinstance(keys, list) else [keys]
            a.setShortcuts([QKeySequence(k) for k in seqs])
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            a.setToolTip(tip)
        a.setCheckable(checkable)
        (a.toggled if checkable else a.triggered).connect(slot)
        self.win.addAction(a)
        self.by_name[name] = a
        return a


def build_actions(win: ActionHost) -> dict[str, QAction]:
    """Create every action of ``win`` and its menus; returns the actions by name."""
    act = _Actions(win)
    for menu in (_file, _edit, _tools, _mask, _view, _model, _go):
        menu(win, act)
    return act.by_name


def _file(win: ActionHost, act: _Actions) -> None:
    s = win.session
    m = win.menuBar().addMenu("&File")
    m.addAction(act("open_folder", "Open folder…", win.ask_open_folder, "Ctrl+O"))
    m.addAction(act("open_project", "Open project…", win.ask_open_project, "Ctrl+Shift+O"))
    m.addAction(act("new_project", "New project…", win.ask_new_project, "Ctrl+N"))
    m.addAction(act("demo", "Try the demo", win.open_demo))
    m.addSeparator()
    tip = "labelme, COCO, VOC, YOLO or two plain folders, into this or a new project"
    m.addAction(act("import", "Import…", win.ask_import, None, tip))
    tip = "the corrected masks as COCO, VOC, labelme, YOLO or plain folders"
    m.addAction(act("export", "Export…", win.ask_export, None, tip))
    m.addSeparator()
    m.addAction(act("save", "Save", s.save_everything, "Ctrl+S", "save the unsaved masks (Ctrl+S)"))
    tip = "write the unsaved masks to another folder (when the project's cannot take them)"
    save_to = lambda: ask_save_unsaved_elsewhere(win)  # noqa: E731
    m.addAction(act("save_elsewhere", "Save unsaved masks to…", save_to, None, tip))
    m.addAction(act("close", "Close project", s.close_project, "Ctrl+W"))
    m.addSeparator()
    m.addAction(act("quit", "Quit", win.close, "Ctrl+Q"))


def _edit(win: ActionHost, act: _Actions) -> None:
    s = win.session
    m = win.menuBar().addMenu("&Edit")
    m.addAction(act("undo", "Undo", s.undo, "Ctrl+Z", "undo (Ctrl+Z)"))
    m.addAction(act("redo", "Redo", s.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "redo (Ctrl+Shift+Z)"))


def _tools(win: ActionHost, act: _Actions) -> None:
    c = win.canvas
    m = win.menuBar().addMenu("&Tools")
    group = QActionGroup(win)
    for tool, text, key in TOOLS:
        a = act(
            f"tool_{tool}", text, lambda _c=False, t=tool: c.set_tool(t), key, f"{text} ({key})"
        )
        a.setCheckable(True)
        group.addAction(a)
        m.addAction(a)
    act.by_name["tool_brush"].setChecked(True)
    m.addSeparator()
    # window shortcuts, not the canvas's keys: they work wherever the focus is (a class
    # just added, a button just pressed), as the tool keys do
    m.addAction(act("brush_smaller", "Smaller brush", lambda: c.change_brush_size(-1), "["))
    m.addAction(act("brush_larger", "Larger brush", lambda: c.change_brush_size(1), "]"))
    m.addSeparator()
    for i in range(10):
        act(f"class_{i}", f"Class {i}", lambda _c=False, i=i: win.pick_class(i), str(i))


MASK_OPS = [
    ("fill_holes", "Fill holes", "fill holes enclosed by the active class"),
    ("remove_islands", "Remove islands", "remove pieces of the active class smaller than N px"),
    ("grow", "Grow 1 px", "dilate the active class by 1 px"),
    ("shrink", "Shrink 1 px", "erode the active class by 1 px"),
]


def _mask(win: ActionHost, act: _Actions) -> None:
    m = win.menuBar().addMenu("&Mask")
    m.addAction(
        act(
            "mark_corrected",
            "Mark as corrected",
            win.session.mark_corrected,
            "Ctrl+Return",
            "the mask is right as it is, a proposal or no object at all: save it as corrected "
            "for the next round (Ctrl+Enter)",
        )
    )
    m.addSeparator()
    for op, text, tip in MASK_OPS:
        m.addAction(act(op, text, lambda _c=False, op=op: win.cleanup(op), None, tip))


def _view(win: ActionHost, act: _Actions) -> None:
    c = win.canvas
    m = win.menuBar().addMenu("&View")
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


def _model(win: ActionHost, act: _Actions) -> None:
    m = win.menuBar().addMenu("&Model")
    m.setToolTipsVisible(True)  # what each choice costs and does (e.g. the round started ahead)
    m.addAction(act("propose", "Propose mask", win.propose, "Ctrl+P", "propose a mask (Ctrl+P)"))
    m.addAction(act("propose_all", "Propose all unlabeled", win.propose_all, "Ctrl+Shift+P"))
    m.addAction(act("cancel_batch", "Cancel proposing", win.session.cancel_batch))
    auto = act(
        "propose_on_open",
        "Propose on opening an unlabeled image",
        win.set_propose_on_open,
        None,
        "once a trained model is chosen, an image without a mask gets its proposal when shown",
        True,
    )
    m.addAction(auto)
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


def _go(win: ActionHost, act: _Actions) -> None:
    images = win.image_list
    m = win.menuBar().addMenu("&Go")
    m.addAction(act("next", "Next image", lambda: images.step(1), "D"))
    m.addAction(act("previous", "Previous image", lambda: images.step(-1), "A"))
    m.addAction(
        act(
            "suggest",
            "Suggest next image",
            images.suggester.suggest,
            "N",
            "the image least like those corrected so far (N)",
        )
    )
    for name in ("unlabeled", "proposed", "corrected"):
        m.addAction(
            act(
                f"show_{name}",
                f"Show {name} only",
                lambda _c=False, n=name: images.set_filter(n),
            )
        )
    m.addAction(act("show_all", "Show all images", lambda: images.set_filter(None)))


def _islands_spin() -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(1, 1_000_000)
    spin.setValue(50)
    spin.setSuffix(" px")
    spin.setToolTip("Remove islands: pieces of the active class smaller than this go")
    return spin


def _cleanup_button(acts: dict[str, QAction], islands: QSpinBox) -> QToolButton:
    """One "Clean up" button for the four mask operations and the islands' size: four
    buttons and a spin box overflowed a 1280 px toolbar (Shrink, and at 1024 px all of
    them, were behind its "»"). They are in the Mask menu too."""
    button = QToolButton()
    button.setObjectName("cleanupButton")
    button.setText("Clean up")
    button.setToolTip("fill holes, remove islands, grow or shrink the active class")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(button)
    remove = acts["remove_islands"]  # its size in its name, in this menu and the Mask menu
    islands.valueChanged.connect(lambda n: remove.setText(f"Remove islands (< {n} px)"))
    remove.setText(f"Remove islands (< {islands.value()} px)")

    def typed() -> None:  # Enter in the size box: remove them, and the menu goes
        menu.close()  # (first: its closing clears the status bar, which will say what went)
        QTimer.singleShot(0, remove.trigger)

    islands.lineEdit().returnPressed.connect(typed)
    for op, _, _ in MASK_OPS:
        menu.addAction(acts[op])
        if op == "remove_islands":
            size = QWidget()
            row = QHBoxLayout(size)
            row.setContentsMargins(24, 2, 8, 2)
            row.addWidget(QLabel("smaller than"))
            row.addWidget(islands)
            holder = QWidgetAction(menu)
            holder.setDefaultWidget(size)
            menu.addAction(holder)
    button.setMenu(menu)
    return button


def build_toolbar(win: ActionHost, acts: dict[str, QAction]) -> Toolbar:
    """The tools toolbar: save/undo, tools, overlay and opacity, mask clean-up, propose."""
    c = win.canvas
    tb = QToolBar("Tools")
    tb.setObjectName("toolsToolbar")
    tb.setMovable(False)
    win.addToolBar(tb)
    for name in ("save", "undo", "redo", "", *(f"tool_{t}" for t, _, _ in TOOLS), ""):
        if name:
            tb.addAction(acts[name])
        else:
            tb.addSeparator()
    tb.addAction(acts["overlay"])
    tb.addAction(acts["outline"])
    tb.addWidget(QLabel(" opacity "))
    opacity = _slider(0, 100, 50)
    opacity.setToolTip("mask opacity")
    opacity.valueChanged.connect(lambda v: c.set_overlay_opacity(v / 100.0))
    c.set_overlay_opacity(0.5)
    tb.addWidget(opacity)
    tb.addSeparator()
    # the loop's two buttons before the clean-up ones, so a narrow window's overflow (>>)
    # hides clean-up, not Propose and Train (the window puts Train after it)
    tb.addAction(acts["propose"])
    loop_end = tb.addSeparator()
    islands = _islands_spin()
    tb.addWidget(_cleanup_button(acts, islands))
    return Toolbar(tb, opacity, islands, loop_end)
