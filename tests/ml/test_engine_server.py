"""The model engine process's core: exports used without torch, the same figures, fallbacks."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from qt_helpers import tiny_checkpoint

from segapp.ml import onnx_predictor
from segapp.ml.checkpoint import load_model
from segapp.ml.engine_client import read_frame, write_frame
from segapp.ml.engine_server import Engine
from segapp.ml.infer import Predictor
from segapp.ml.onnx_backend import export_checkpoint
from segapp.ml.onnx_predictor import PROBABILITY_TOLERANCE
from segapp.ml.spec import ModelError

IMAGE = np.random.default_rng(0).integers(0, 255, (70, 90, 3), np.uint8)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path / "cache"))


def test_frames_carry_headers_and_arrays():
    stream = io.BytesIO()
    arrays = [np.arange(12, dtype=np.uint16).reshape(3, 4), np.zeros((0, 5)), np.ones(3, bool)]
    write_frame(stream, {"op": "x", "n": 1}, arrays)
    write_frame(stream, {"op": "y"})
    stream.seek(0)
    header, got = read_frame(stream)
    assert header == {"op": "x", "n": 1}
    for a, b in zip(arrays, got, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert read_frame(stream) == ({"op": "y"}, [])
    with pytest.raises(EOFError):
        read_frame(stream)


@pytest.mark.parametrize("classes", [2, 3])
def test_a_cached_export_proposes_like_pytorch(tmp_path, classes):
    folder = tiny_checkpoint(tmp_path / "m", classes=1 if classes == 2 else classes, export=False)
    export_checkpoint(folder)
    engine = Engine("cpu", backend="auto")
    labels, probs = engine.predict(str(folder), classes, IMAGE)
    model = next(iter(engine._models.values()))
    assert isinstance(model.predictor, onnx_predictor.OnnxPredictor) and engine.device is None
    ref = Predictor(load_model(folder), "cpu", backend="torch").predict(IMAGE)
    np.testing.assert_allclose(probs, ref, atol=PROBABILITY_TOLERANCE)
    assert labels.shape == IMAGE.shape[:2]


def test_a_resize_mode_version_proposes_with_its_mirrored_pass_on_both_backends(tmp_path):
    """The window's engine (ONNX Runtime) averages the mirrored pass in as PyTorch does; an
    unmirrored pass of a network that is not mirror-symmetric differs."""
    from segapp.ml.checkpoint import save_checkpoint
    from segapp.ml.registry import create_model, preset_spec

    torch.manual_seed(0)
    spec = preset_spec("unet-small", classes=1)
    folder = tmp_path / "m"
    train = {"resize_mode": "resize", "size": 64, "augment": "medium"}
    save_checkpoint(folder, create_model(spec).eval(), spec, {"train": train})
    export_checkpoint(folder)
    engine = Engine("cpu", backend="auto")
    _, probs = engine.predict(str(folder), 2, IMAGE)
    model = next(iter(engine._models.values()))
    assert isinstance(model.predictor, onnx_predictor.OnnxPredictor) and model.predictor.mirror
    torch_predictor = Predictor(load_model(folder), "cpu", backend="torch")
    assert torch_predictor.mirror
    np.testing.assert_allclose(probs, torch_predictor.predict(IMAGE), atol=PROBABILITY_TOLERANCE)
    one_pass = torch_predictor.predict(IMAGE, mirror=False)
    assert np.abs(probs - one_pass).max() > 10 * PROBABILITY_TOLERANCE


def test_without_an_export_pytorch_proposes_and_the_export_completes(tmp_path):
    folder = tiny_checkpoint(tmp_path / "m", foreground=2.0, export=False)
    engine = Engine("cpu", backend="auto")
    first, _ = engine.predict(str(folder), 2, IMAGE)
    model = next(iter(engine._models.values()))
    assert model.predictor.backend == "torch" and engine.device.type == "cpu"
    export = model.predictor._export
    assert export is None or export.proc.wait(timeout=180) == 0
    again, _ = engine.predict(str(folder), 2, IMAGE)  # switches to ONNX, records the metadata
    assert model.predictor.backend == "onnx" and np.array_equal(first, again)
    config = onnx_predictor.read_checkpoint_config(folder)
    assert onnx_predictor.read_meta(onnx_predictor.export_path(folder, config)) is not None
    fresh = Engine("cpu", backend="auto")  # the next session: no torch needed
    assert np.array_equal(fresh.predict(str(folder), 2, IMAGE)[0], first)
    assert isinstance(next(iter(fresh._models.values())).predictor, onnx_predictor.OnnxPredictor)


def test_a_changed_checkpoint_is_not_taken_for_its_old_export(tmp_path):
    folder = tiny_checkpoint(tmp_path / "m", export=False)
    config = onnx_predictor.read_checkpoint_config(folder)
    before = onnx_predictor.export_path(folder, config)
    tiny_checkpoint(folder, foreground=2.0, export=False)  # retrained in place
    assert onnx_predictor.export_path(folder, config) != before


def test_gpu_failure_falls_back_to_cpu_with_a_message(tmp_path, monkeypatch):
    from segapp.ml import infer

    engine = Engine("cpu", backend="torch")
    engine._torch()
    engine.device = torch.device("cuda")  # pretend: a GPU that then fails
    real = infer.Predictor

    def predictor(loaded, device, **kw):
        if torch.device(device).type == "cuda":
            raise RuntimeError("CUDA error: no kernel image is available")
        return real(loaded, device, **kw)

    monkeypatch.setattr(infer, "Predictor", predictor)
    monkeypatch.setattr(engine._ml["device"], "describe_device", lambda d: f"dev {d.type}")
    events = []
    engine.predict(
        str(tiny_checkpoint(tmp_path / "m", export=False)), 2, IMAGE, notify=events.append
    )
    assert engine.device.type == "cpu"
    assert "failed" in events[0]["text"] and "CPU" in events[0]["text"]
    assert events[1] == {"event": "device", "device": "dev cpu"}


def test_wrong_class_count_and_presets_are_refused_without_torch(tmp_path):
    engine = Engine("cpu")
    with pytest.raises(ModelError, match="predicts 2 classes but this project has 3"):
        engine.predict(str(tiny_checkpoint(tmp_path / "m", export=False)), 3, IMAGE)
    with pytest.raises(ModelError, match="untrained preset"):
        engine.predict("unet-small", 2, IMAGE)
    assert engine._ml is None


def test_clicks_with_a_model_for_another_class_count_are_refined_by_grabcut(tmp_path):
    """Walk-through 10: after Add class… every click opened an error dialog until a model
    of the new class count was trained; the clicks alone serve, as before any model."""
    from segapp.core.clicks import Click

    engine = Engine("cpu")
    model = str(tiny_checkpoint(tmp_path / "m", export=False))  # foreground and background
    prev = np.zeros(IMAGE.shape[:2], np.uint8)
    mask, window, refiner = engine.refine(model, 3, "a", IMAGE, prev, [Click(20.0, 20.0, True)])
    assert mask.shape == (window[3], window[2]) and mask.any()
    assert refiner.kind == "grabcut" and "for another number of classes" in refiner.name
    _, _, refiner = engine.refine("", 3, "a", None, prev, [Click(20.0, 20.0, True)])
    assert refiner.name == "GrabCut refines (no trained model yet)"
