"""ONNX Runtime gives the same probabilities as PyTorch, for padded and valid networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segapp.ml.checkpoint import LoadedModel
from segapp.ml.infer import Predictor
from segapp.ml.registry import create_model, preset_spec

pytest.importorskip("onnxruntime")


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
    np.testing.assert_allclose(onnx.predict(image), ref, atol=1e-4)
    assert len(list((tmp_path / "segapp" / "onnx").glob("*.onnx"))) == 1
    Predictor(loaded, "cpu", backend="onnx")  # second time: from the cache
    assert len(list((tmp_path / "segapp" / "onnx").glob("*.onnx"))) == 1
