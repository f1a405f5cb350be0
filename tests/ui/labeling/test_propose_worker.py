"""The proposal worker: the engine in a process of its own, crashes survived, no torch here."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import qt_helpers
from conftest import make_dataset
from qt_helpers import tiny_checkpoint, wait_proposal

from segapp.ml import engine_client
from segapp.ml.tiling import probs_to_labels
from segapp.ui.labeling.propose_worker import ProposeEngine, ProposeRequest

make_window = qt_helpers.make_window  # the window fixture


def test_window_modules_do_not_import_torch():
    code = (
        "import sys, segapp.ui.app, segapp.ui.main_window; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _engine(qtbot) -> ProposeEngine:
    engine = ProposeEngine(device="cpu")
    with qtbot.waitSignal(engine.engineReady, timeout=30_000) as ready:
        engine.start()
    assert "CPU" in ready.args[0]
    return engine


def test_engine_proposes_in_its_process_and_caches_the_model(qtbot, tmp_path):
    model = str(tiny_checkpoint(tmp_path / "m"))
    engine = _engine(qtbot)
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)
    results = []
    engine.proposalReady.connect(lambda *a: results.append(a))
    for _ in range(2):
        engine.propose(ProposeRequest(model, 2, 0.5, stem="a", image=image))
    qtbot.waitUntil(lambda: len(results) == 2, timeout=60_000)
    _rid, stem, labels, probs, name, refine = results[0]
    assert (stem, name, labels.shape, labels.dtype) == ("a", "m", (40, 56), np.uint8)
    assert refine == "none"  # the engine says how it refined (this checkpoint: not at all)
    assert probs.shape == (1, 40, 56) and np.array_equal(labels, probs_to_labels(probs, 0.5))
    assert engine._worker.last_reply["builds"] == 1  # built once, in the engine process
    assert engine.busy == 0
    engine.shutdown()


def test_a_crash_in_the_engine_fails_one_proposal_and_the_next_starts_it_again(
    qtbot, tmp_path, monkeypatch
):
    """A native crash (here: abort() while predicting) ends the engine's process only."""
    crashing = (
        "import os, segapp.ml.engine_server as s; "
        "s.Engine.predict = lambda *a, **k: os.abort(); s.main()"
    )
    monkeypatch.setattr(engine_client, "server_command", lambda: [sys.executable, "-c", crashing])
    model = str(tiny_checkpoint(tmp_path / "m"))
    engine = _engine(qtbot)
    request = ProposeRequest(model, 2, stem="a", image=np.zeros((32, 32, 3), np.uint8))
    with qtbot.waitSignal(engine.proposalFailed, timeout=30_000) as failed:
        engine.propose(request)
    assert "stopped unexpectedly" in failed.args[2] and "signal" in failed.args[2]
    monkeypatch.undo()
    with qtbot.waitSignal(engine.proposalReady, timeout=60_000):
        engine.propose(request)
    assert engine.busy == 0
    engine.shutdown()


def test_shutdown_does_not_wait_for_a_proposal_in_flight(qtbot, tmp_path, monkeypatch):
    slow = (
        "import time, segapp.ml.engine_server as s; "
        "s.Engine.predict = lambda *a, **k: time.sleep(600); s.main()"
    )
    monkeypatch.setattr(engine_client, "server_command", lambda: [sys.executable, "-c", slow])
    engine = _engine(qtbot)
    engine.propose(ProposeRequest("m", 2, stem="a", image=np.zeros((8, 8), np.uint8)))
    qtbot.wait(200)  # the engine is predicting (sleeping) now
    proc = engine._worker._client.proc
    engine.shutdown()  # kills the process: the worker's wait ends
    assert proc.poll() is not None and not engine.started


def test_the_chosen_model_is_built_before_the_first_proposal(qtbot, tmp_path, make_window):
    data = make_dataset(tmp_path / "d", n=2, masks=0)
    tiny_checkpoint(data / "models" / "v001")
    w = make_window(data)
    worker = w.session.engine._worker
    qtbot.waitUntil(lambda: worker.last_reply.get("builds") == 1, timeout=60_000)
    w.propose()
    wait_proposal(qtbot, w)
    assert worker.last_reply["builds"] == 1  # the proposal found it built
    assert w.session.status_of(w.session.current) == ("proposed", True)


_WINDOW = """
import json, sys, time
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from segapp.ui.main_window import MainWindow
data, model, settings = sys.argv[1:4]
w = MainWindow(settings=QSettings(settings, QSettings.Format.IniFormat))
w.session.confirm = lambda title, text: True
w.show()
assert w.open_path(data) and w.add_model_folder(model)
w.propose()
t0 = time.monotonic()
while w.session._pending and time.monotonic() - t0 < 60:
    app.processEvents()
    time.sleep(0.005)
stem = w.session.current
print(json.dumps({
    "status": w.session.status_of(stem)[0],
    "error": w.last_error,
    "window": sorted(m for m in ("torch", "segmentation_models_pytorch", "timm") if m in sys.modules),
    "engine_torch": w.session.engine._worker.last_reply.get("torch"),
}))
w.session.doc.mark_saved()
w.close()
"""


def test_the_window_proposes_from_a_cached_export_without_torch(tmp_path, monkeypatch):
    from segapp.ml.onnx_backend import export_checkpoint

    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGAPP_BACKEND", "auto")
    model = tiny_checkpoint(tmp_path / "m", foreground=2.0)
    export_checkpoint(model)
    data = make_dataset(tmp_path / "d", n=2, masks=0)
    args = [str(data), str(model), str(tmp_path / "settings.ini")]
    run = subprocess.run([sys.executable, "-c", _WINDOW, *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    state = json.loads(run.stdout.strip().splitlines()[-1])
    assert state["status"] == "proposed", state
    assert state["window"] == [] and state["engine_torch"] is False  # neither process
