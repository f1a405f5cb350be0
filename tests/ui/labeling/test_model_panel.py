"""The model picker offers trained checkpoints only: never a preset's untrained head.

Until the project has a trained model, Propose (button, Ctrl+P, Propose all) says how to get
one and writes nothing; a checkpoint that appears (training, an opened folder) enables it.
"""

from __future__ import annotations

import json

import pytest
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from qt_helpers import key, tiny_checkpoint, wait_proposal

from segapp.ml.registry import PRESETS
from segapp.ml.spec import ModelError
from segapp.ui.labeling.model_panel import FIRST_ROUND_IMAGES, NO_TRAINED_MODEL, read_model_folder

make_window = qt_helpers.make_window  # the window fixture


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "data", n=3, height=32, width=32, masks=1)


def _said(w) -> list[str]:
    said: list[str] = []
    w.session.message.connect(said.append)
    return said


def test_without_a_trained_model_propose_explains_and_writes_nothing(make_window, qtbot, data):
    w = make_window(data)
    mp = w.model_panel
    assert mp.combo.count() == 0 and not mp.combo.isEnabled() and mp.model_ref() == ""
    assert mp.combo.placeholderText() == "no trained model yet"
    assert mp.hint.isVisibleTo(mp) and f"at least {FIRST_ROUND_IMAGES} images" in NO_TRAINED_MODEL
    assert not mp.slider.isVisibleTo(mp)  # a threshold of nothing (walk-through 6)
    said = _said(w)
    qtbot.mouseClick(mp.propose_btn, Qt.MouseButton.LeftButton)
    key(qtbot, w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    qtbot.mouseClick(mp.all_btn, Qt.MouseButton.LeftButton)
    w.actions_by_name["propose_all"].trigger()
    assert said == [NO_TRAINED_MODEL] * 4
    assert "Train (Ctrl+T)" in w.statusBar().currentMessage()
    assert w.session.engine.busy == 0 and w.session.engine._next_id == 0  # no worker request
    assert not w.session._pending and not w.session.batch_running
    assert not w.session.doc.dirty and not list((data / "masks").glob("[12].png"))
    qtbot.mouseClick(mp.train_btn, Qt.MouseButton.LeftButton)  # the hint's "Train…"
    assert w.training.dock.isVisible()


def test_session_refuses_a_preset(make_window, data):
    w = make_window(data)
    said = _said(w)
    assert not w.session.propose_current("unet-small")
    assert w.session.propose_all(next(iter(PRESETS))) == 0
    assert said == [NO_TRAINED_MODEL] * 2 and w.session.engine._next_id == 0


def test_a_new_checkpoint_enables_propose(make_window, qtbot, data):
    w = make_window(data)
    model = tiny_checkpoint(data / "models" / "v001", foreground=2.0)
    w.training.train_panel.versionsChanged.emit()  # as after a training run
    mp = w.model_panel
    assert mp.model_ref() == str(model) and mp.combo.isEnabled()
    assert not mp.hint.isVisibleTo(mp) and mp.slider.isVisibleTo(mp)
    assert all(mp.combo.itemData(i) not in PRESETS for i in range(mp.combo.count()))
    key(qtbot, w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    wait_proposal(qtbot, w)
    assert w.session.status_of(w.session.current) == ("proposed", True), w.last_error


def test_open_model_folder_adds_a_checkpoint(make_window, qtbot, data, tmp_path, monkeypatch):
    model = tiny_checkpoint(tmp_path / "elsewhere" / "mine")
    w = make_window(data)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(model))
    w.actions_by_name["open_model"].trigger()
    assert w.model_panel.model_ref() == str(model.resolve())
    assert not w.model_panel.hint.isVisibleTo(w.model_panel)
    w.training.refresh_models()  # a later refresh keeps it
    assert w.model_panel.model_ref() == str(model.resolve())
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    w.actions_by_name["open_model"].trigger()
    assert w.last_error[0] == "Not a trained model folder"
    assert w.model_panel.combo.count() == 1


def test_read_model_folder_says_what_is_wrong(tmp_path):
    model = tiny_checkpoint(tmp_path / "ok")
    assert read_model_folder(model, 2)[:2] == ("ok", model)
    with pytest.raises(ModelError, match="predicts 2 classes but this project has 3"):
        read_model_folder(model, 3)
    pt = tmp_path / "pt"
    pt.mkdir()
    (pt / "model.pt").write_bytes(b"\x80\x04pickled")
    with pytest.raises(ModelError, match="config.json and model.safetensors missing"):
        read_model_folder(pt, 2)
    (pt / "config.json").write_text(json.dumps({"model": {"arch": "unet"}}))
    (pt / "model.safetensors").write_bytes(b"\x80\x04pickled, renamed")
    with pytest.raises(ModelError, match="not a safetensors weights file"):
        read_model_folder(pt, 2)
    (pt / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a segapp model config"):
        read_model_folder(pt, 2)
