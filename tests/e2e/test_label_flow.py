"""A person's labeling session, end to end, driving the real window (offscreen).

Open a folder from the welcome page, let a (tiny, just trained) model propose, paint with
the mouse, undo, redo, save, close, reopen: the same pixels are on disk and on screen.
"""

from __future__ import annotations

import numpy as np
import pytest
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from qt_helpers import disk_labels, drag, key, wait_proposal

from segapp.ui.app import open_startup

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier

make_window = qt_helpers.make_window  # the window fixture


@pytest.fixture
def project_with_model(tmp_path):
    """32 px images, 3 of 6 labeled, and a 1-epoch checkpoint in models/tiny, exported to
    ONNX as after its first session: the window proposes as shipped on the CPU, with ONNX
    Runtime in an engine that never imports torch."""
    from segapp.ml.onnx_backend import export_checkpoint
    from segapp.ml.train import TrainConfig, train

    root = make_dataset(tmp_path / "data", n=6, height=32, width=32, masks=3)
    cfg = TrainConfig(
        data=str(root),
        out=str(root / "models" / "tiny"),
        model="unet-small",
        epochs=1,
        size=32,
        batch_size=4,
        augment="none",
        device="cpu",
        val_fraction=0.34,
    )
    for _ in train(cfg):
        pass
    export_checkpoint(root / "models" / "tiny")
    return root


def test_label_flow(make_window, qtbot, project_with_model, monkeypatch):
    root = project_with_model
    w = make_window()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(root))
    qtbot.mouseClick(w.welcome.buttons["Open folder…"], Qt.MouseButton.LeftButton)
    assert w.session.project is not None and w.session.current == "3"
    assert w.model_panel.model_ref().endswith("tiny")  # the project's checkpoint first
    qtbot.waitUntil(lambda: w.session.engine.ready, timeout=30_000)
    assert "CPU" in w.device_label.text() or "cuda" in w.device_label.text()

    # the model proposes
    key(qtbot, w, Qt.Key.Key_P, CTRL)
    wait_proposal(qtbot, w)
    doc = w.session.doc
    proposal = doc.labels.copy()
    assert w.session.status_of("3") == ("proposed", True)
    assert w.session.engine._worker.last_reply["torch"] is False  # ONNX Runtime proposed

    # the person corrects it: paint a stroke and erase a dot
    w.canvas.set_brush_radius(2)
    key(qtbot, w, Qt.Key.Key_B)
    drag(qtbot, w.canvas, [(4, 4), (12, 4), (20, 6)])
    key(qtbot, w, Qt.Key.Key_E)
    drag(qtbot, w.canvas, [(28, 28)])
    edited = doc.labels.copy()
    assert edited[4, 8] == 1 and edited[28, 28] == 0

    # undo both, redo both
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(doc.labels, proposal)
    key(qtbot, w, Qt.Key.Key_Z, CTRL | SHIFT)
    key(qtbot, w, Qt.Key.Key_Z, CTRL | SHIFT)
    assert np.array_equal(doc.labels, edited)

    # save: on disk, corrected
    key(qtbot, w, Qt.Key.Key_S, CTRL)
    assert not doc.dirty
    assert np.array_equal(disk_labels(w, "3"), edited)
    entry = w.session.project.entry("3")
    assert (entry.status, entry.proposed_by) == ("corrected", "tiny")

    # next image, propose, leave it: switching saves it as proposed
    key(qtbot, w, Qt.Key.Key_D)
    key(qtbot, w, Qt.Key.Key_P, CTRL)
    wait_proposal(qtbot, w)
    proposed4 = w.session.doc.labels.copy()
    key(qtbot, w, Qt.Key.Key_D)
    assert w.session.project.entry("4").status == "proposed"
    w.close()

    # reopen (the last project, as at start-up): same pixels, same statuses
    w2 = make_window()
    assert open_startup(w2, None)
    assert w2.session.project.root == root.resolve()
    w2.session.select("3")
    assert np.array_equal(w2.session.doc.labels, edited)
    assert w2.session.project.entry("3").status == "corrected"
    w2.session.select("4")
    assert np.array_equal(w2.session.doc.labels, proposed4)
    assert w2.session.project.entry("4").status == "proposed"


def test_try_the_demo(make_window, qtbot, tmp_path, monkeypatch):
    import threading

    from segapp import demo

    monkeypatch.setenv("SEGAPP_DATA", str(tmp_path / "userdata"))
    made_in = []
    real = demo.ensure_demo_project
    monkeypatch.setattr(
        demo, "ensure_demo_project", lambda: made_in.append(threading.current_thread()) or real()
    )
    w = make_window()
    qtbot.mouseClick(w.welcome.buttons["Try the demo"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.session.project is not None, timeout=60_000)
    assert made_in[0] is not threading.main_thread()  # the watershed ran off the GUI thread
    project = w.session.project
    assert project is not None and project.root == (tmp_path / "userdata" / "demo").resolve()
    assert w.session.doc is not None
    from segapp.demo import demo_model

    assert demo_model() is not None  # shipped: models/demo-model, inside the wheel too
    assert w.model_panel.model_ref() == str(demo_model())
