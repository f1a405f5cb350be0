"""ONNX Runtime gives the same probabilities as PyTorch, for padded and valid networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from segapp.ml.checkpoint import LoadedModel
from segapp.ml.infer import Predictor
from segapp.ml.onnx_predictor import PROBABILITY_TOLERANCE
from segapp.ml.registry import create_model, preset_spec


@pytest.mark.parametrize(
    "name,kw",
    [
        ("unet-small", {"base_channels": 4}),
        ("unet-paper", {"base_channels": 4, "depth": 2}),
        ("pretrained-lite0", {"encoder_weights": ""}),
    ],
)
def test_same_probabilities_as_pytorch(name, kw, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path))
    torch.manual_seed(0)
    spec = preset_spec(name, **kw)
    loaded = LoadedModel(create_model(spec).eval(), spec, name)
    image = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    ref = Predictor(loaded, "cpu", backend="torch", channels_last=False).predict(image)
    onnx = Predictor(loaded, "cpu", backend="onnx")
    assert onnx.backend == "onnx"
    np.testing.assert_allclose(onnx.predict(image), ref, atol=PROBABILITY_TOLERANCE)
    assert len(list((tmp_path / "segapp" / "onnx").glob("*.onnx"))) == 1
    Predictor(loaded, "cpu", backend="onnx")  # second time: from the cache
    assert len(list((tmp_path / "segapp" / "onnx").glob("*.onnx"))) == 1


def _small(seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    spec = preset_spec("unet-small", base_channels=4)
    return LoadedModel(create_model(spec).eval(), spec, "unet-small")


def test_background_export_switches_to_onnx_when_ready(tmp_path, monkeypatch):
    """The window's path: PyTorch first, the export in a child process, then ONNX."""
    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path))
    loaded = _small()
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    ref = Predictor(loaded, "cpu", backend="torch").predict(image)
    pred = Predictor(loaded, "cpu", backend="auto", onnx_export="background")
    assert pred.backend == "torch" and pred._export is not None
    while_exporting = pred.predict(image)
    np.testing.assert_allclose(while_exporting, ref, atol=PROBABILITY_TOLERANCE)
    assert pred._export is None or pred._export.proc.wait(timeout=180) == 0
    np.testing.assert_allclose(pred.predict(image), ref, atol=PROBABILITY_TOLERANCE)
    assert pred.backend == "onnx"
    cache = tmp_path / "segapp" / "onnx"
    assert [p.suffix for p in cache.iterdir()] == [".onnx"]  # the child's files are gone
    again = Predictor(loaded, "cpu", backend="auto", onnx_export="background")
    assert again.backend == "onnx"  # cached: no second export


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc (Linux)")
def test_an_ended_export_child_is_reaped_without_a_poll(tmp_path, monkeypatch):
    """No <defunct> child waits for the next proposal to be reaped."""
    import time

    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path))
    monkeypatch.setattr("sys.executable", "/bin/true")  # the child ends at once
    pred = Predictor(_small(seed=2), "cpu", backend="auto", onnx_export="background")
    proc = Path(f"/proc/{pred._export.proc.pid}")
    deadline = time.monotonic() + 30
    while proc.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not proc.exists()


def test_failed_background_export_stays_on_pytorch(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path))
    monkeypatch.setattr("sys.executable", "/bin/false")  # the child fails at once
    loaded = _small(seed=1)
    image = np.zeros((32, 32, 3), np.uint8)
    pred = Predictor(loaded, "cpu", backend="auto", onnx_export="background")
    pred._export.proc.wait(timeout=30)
    pred.predict(image)
    assert pred.backend == "torch" and pred._export is None
    again = Predictor(loaded, "cpu", backend="auto", onnx_export="background")
    assert again._export is None and again.backend == "torch"  # not tried again
