"""Helpers for tests that drive the real window (pytest-qt, offscreen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QSettings, Qt

from segapp.core.imageio import read_mask


@pytest.fixture
def make_window(qtbot, tmp_path):
    """``make_window(path=None, propose_on_open=False)``: a shown MainWindow with its own
    settings file (automatic proposals off unless asked for: tests propose explicitly)."""
    from segapp.ui.main_window import MainWindow

    windows = []

    def make(path: Path | None = None, propose_on_open: bool = False, **kw):
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        settings.setValue("propose_on_open", propose_on_open)
        settings.setValue("train_standby", False)  # no process started ahead per window
        w = MainWindow(settings=settings, **kw)
        w.session.confirm = lambda title, text: True
        w.autosaver.timer.setInterval(3_600_000)  # tests save explicitly (autosave: its own test)
        w.session.load_wait_s = None  # switching waits for the image (far jumps: their own test)
        w.show()
        qtbot.waitExposed(w)
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow, timeout=5000)
        if path is not None:
            assert w.open_path(path), w.last_error
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.session.confirm = lambda title, text: True
        if w.error_box is not None:
            w.error_box.close()
        w.close()


def tiny_checkpoint(
    folder: Path,
    classes: int = 1,
    foreground: float | None = None,
    export: bool = True,
    click_channels: int = 0,
) -> Path:
    """A unet-small checkpoint folder saved from a fresh network (it proposes, for plumbing tests).

    ``foreground``: the head's logit everywhere (e.g. 2.0: sigmoid 0.88, so most pixels are
    foreground at threshold 0.5 and none at 0.99; a fresh head may propose an empty mask).
    ``export``: its ONNX export cached, as a checkpoint is once it has proposed: the engine
    proposes on ONNX Runtime without torch, as shipped (the same weights every time, so
    the session's cache exports each kind once). ``click_channels``: 3 for a model that
    follows clicks (its click weights start at zero: it ignores them until trained).
    """
    import torch

    from segapp.ml.checkpoint import save_checkpoint
    from segapp.ml.registry import create_model, preset_spec

    torch.manual_seed(0)
    spec = preset_spec("unet-small", classes=classes, click_channels=click_channels)
    model = create_model(spec)
    if foreground is not None:
        with torch.no_grad():
            model.head.weight.mul_(0.01)
            model.head.bias.fill_(foreground)
    save_checkpoint(folder, model, spec)
    if export:
        from segapp.ml.onnx_backend import export_checkpoint

        export_checkpoint(folder)
    return folder


def drag(qtbot, canvas, points: list[tuple[float, float]]) -> None:
    """Press, move through ``points`` (image pixels) and release the left button on the canvas."""
    vp = canvas.viewport()
    pos = [canvas.mapFromScene(QPointF(x + 0.5, y + 0.5)) for x, y in points]
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=pos[0])
    for p in pos[1:]:
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=pos[-1])


def key(qtbot, window, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press as a person makes it: to the focused widget of the window (shortcuts apply)."""
    if not window.isActiveWindow():  # e.g. an error box was shown
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    target = window.focusWidget() or window
    qtbot.keyClick(target, k, modifier)


def wait_proposal(qtbot, window, timeout: int = 30_000) -> None:
    qtbot.waitUntil(lambda: not window.session._pending, timeout=timeout)


def disk_labels(window, stem: str) -> np.ndarray:
    project = window.session.project
    return project.labels_from_mask(read_mask(project.entry(stem).mask_path))
