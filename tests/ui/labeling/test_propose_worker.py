"""The proposal worker: engine in its thread, model cache, GPU fallback message, no torch at start."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from qt_helpers import tiny_checkpoint

from segapp.ui.labeling.propose_worker import ProposeEngine, ProposeRequest, _Worker, ml_labels


def test_window_modules_do_not_import_torch():
    code = (
        "import sys, segapp.ui.app, segapp.ui.main_window; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_engine_proposes_in_its_thread_and_caches_the_model(qtbot, tmp_path):
    model = str(tiny_checkpoint(tmp_path / "m"))
    engine = ProposeEngine(device="cpu")
    with qtbot.waitSignal(engine.engineReady, timeout=30_000) as ready:
        engine.start()
    assert "CPU" in ready.args[0]
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)
    results = []
    engine.proposalReady.connect(lambda *a: results.append(a))
    for _ in range(2):
        engine.propose(ProposeRequest(model, 2, 0.5, stem="a", image=image))
    qtbot.waitUntil(lambda: len(results) == 2, timeout=30_000)
    _rid, stem, labels, probs, name = results[0]
    assert (stem, name, labels.shape, labels.dtype) == ("a", "m", (40, 56), np.uint8)
    assert np.array_equal(labels, ml_labels(probs, 0.5))
    assert len(engine._worker._models) == 1  # built once
    engine.shutdown()


def test_gpu_failure_falls_back_to_cpu_with_a_message(qtbot, monkeypatch, tmp_path):
    import torch

    from segapp.ml import infer

    worker = _Worker(threading.Event())
    worker.load_engine("cpu")
    worker._device = torch.device("cuda")  # pretend: a GPU that then fails
    real = infer.Predictor

    def predictor(loaded, device, **kw):
        if torch.device(device).type == "cuda":
            raise RuntimeError("CUDA error: no kernel image is available")
        return real(loaded, device, **kw)

    monkeypatch.setattr(infer, "Predictor", predictor)
    monkeypatch.setattr(worker._ml["device"], "describe_device", lambda d: f"dev {d.type}")
    messages, done = [], []
    worker.message.connect(messages.append)
    worker.proposalReady.connect(lambda *a: done.append(a))
    image = np.zeros((32, 32, 3), np.uint8)
    worker.propose(ProposeRequest(str(tiny_checkpoint(tmp_path / "m")), 2, stem="a", image=image))
    assert done and worker._device.type == "cpu"
    assert "failed" in messages[0] and "CPU" in messages[0]


def test_wrong_class_count_is_reported(qtbot, tmp_path):
    worker = _Worker(threading.Event())
    worker.load_engine("cpu")
    failed = []
    worker.proposalFailed.connect(lambda *a: failed.append(a))
    ckpt = tiny_checkpoint(tmp_path / "m")
    worker.propose(ProposeRequest(str(ckpt), 3, stem="a", image=np.zeros((32, 32), np.uint8)))
    assert failed and "predicts 2 classes but this project has 3" in failed[0][2]


def test_a_preset_never_proposes(qtbot):
    """An untrained head proposes noise: the engine refuses a preset name."""
    worker = _Worker(threading.Event())
    worker.load_engine("cpu")
    failed, done = [], []
    worker.proposalFailed.connect(lambda *a: failed.append(a))
    worker.proposalReady.connect(lambda *a: done.append(a))
    worker.propose(ProposeRequest("unet-small", 2, stem="a", image=np.zeros((32, 32), np.uint8)))
    assert not done and "untrained preset" in failed[0][2]


@pytest.mark.parametrize("classes", [2, 4])
def test_ml_labels_matches_engine_rule(classes):
    from segapp.ml.infer import probs_to_labels

    probs = np.random.default_rng(1).random((1 if classes == 2 else classes, 8, 8), np.float32)
    assert np.array_equal(ml_labels(probs, 0.3), probs_to_labels(probs, 0.3))
