"""Inference covers any image size: single pass, overlap tiles, valid-convolution nets.

Tiles against the whole-image pass, on trained nets: test_infer_trained.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segapp.ml.checkpoint import LoadedModel
from segapp.ml.infer import Predictor, plan_tiles, probs_to_labels
from segapp.ml.registry import create_model, preset_spec

pytestmark = pytest.mark.torch_backend  # the PyTorch predictor (ONNX: test_onnx_backend.py)


def _loaded(name="unet-small", **kw):
    torch.manual_seed(0)
    spec = preset_spec(name, base_channels=4, **kw)
    return LoadedModel(create_model(spec).eval(), spec, name)


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (130, 70), (300, 210)])
def test_any_size_and_aspect(shape):
    pred = Predictor(_loaded(), "cpu", tile=64, overlap=16)
    image = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
    probs = pred.predict(image)
    assert probs.shape == (1, *shape)
    assert np.isfinite(probs).all() and probs.min() >= 0 and probs.max() <= 1


def test_valid_net_covers_whole_image():
    """The paper's valid U-Net (output smaller than input) still predicts every pixel."""
    loaded = _loaded("unet-paper", depth=2)
    pred = Predictor(loaded, "cpu", tile=64, overlap=8)
    image = np.random.default_rng(2).integers(0, 255, (90, 117), dtype=np.uint16) * 200
    probs = pred.predict(image)
    assert probs.shape == (1, 90, 117)
    assert np.isfinite(probs).all()


def test_valid_net_small_image_gets_one_just_big_enough_tile():
    """A valid-conv net does not run a whole default tile over a small image."""
    model = _loaded("unet-paper", depth=2).model
    plan = plan_tiles(model, 90, 117, tile=model.valid_input_size(400), overlap=32)
    assert plan.ys == [0] and plan.xs == [0]
    assert plan.out_tile >= 117 and plan.in_tile == plan.out_tile + 2 * plan.margin
    legal_smaller = {model.valid_input_size(n) for n in range(1, plan.in_tile)} - {plan.in_tile}
    assert all(model.output_size(n) < 117 for n in legal_smaller)
    assert plan.in_tile < model.valid_input_size(400)


def test_tile_plan_covers_image():
    model = _loaded().model
    plan = plan_tiles(model, 1000, 333, tile=256, overlap=32)
    assert plan.ys[0] == 0 and plan.ys[-1] + plan.out_tile == 1000
    assert plan.xs[-1] + plan.out_tile == 333
    steps = np.diff(plan.ys)
    assert (steps <= plan.out_tile - 32).all()


@pytest.mark.xfail(
    strict=True,
    reason="plan_tiles steps by max(1, out_tile - overlap): an overlap as large as the output "
    "tile (segapp predict --tile 64, overlap 64) plans 1-pixel steps, 876,096 tiles for a "
    "1000 x 1000 image; reported to the owner of ml/tiling.py",
)
def test_an_overlap_as_large_as_the_tile_does_not_plan_a_tile_per_pixel():
    from segapp.ml.tiling import NetGeometry

    plan = plan_tiles(NetGeometry(size_multiple=16), 1000, 1000, tile=64, overlap=64)
    assert np.diff(plan.ys).min() >= plan.out_tile // 2


def test_multiclass_labels():
    loaded = _loaded(classes=4)
    pred = Predictor(loaded, "cpu")
    labels = pred.predict_labels(np.zeros((40, 50, 3), np.uint8))
    assert labels.shape == (40, 50) and labels.max() < 4
    probs = np.zeros((3, 2, 2), np.float32)
    probs[2] = 1
    assert (probs_to_labels(probs) == 2).all()
    assert (probs_to_labels(np.full((1, 2, 2), 0.7, np.float32), threshold=0.8) == 0).all()


def test_resize_to_training_scale():
    loaded = _loaded()
    loaded.config = {"train": {"resize_mode": "resize", "size": 64}}
    pred = Predictor(loaded, "cpu")
    assert pred.resize_to == 64
    assert pred.predict(np.zeros((100, 150, 3), np.uint8)).shape == (1, 100, 150)


def test_cuda_oom_falls_back_to_cpu(monkeypatch):
    """An out-of-memory error on a GPU retries smaller, then falls back to the CPU."""
    import segapp.ml.infer as infer

    pred = Predictor(_loaded(), "cpu", tile=256)
    pred.device = torch.device("cuda")  # pretend; the patched call fails as a GPU would
    real = infer.predict_tiled
    calls = []

    def fake(model, x, device, tile, *args, **kw):
        calls.append((device.type, tile))
        if device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(model, x, device, tile, *args, **kw)

    monkeypatch.setattr(infer, "predict_tiled", fake)
    pred.model = pred.model.to("cpu")
    monkeypatch.setattr(pred.model, "to", lambda *a, **k: pred.model)
    probs = pred.predict(np.zeros((32, 32, 3), np.uint8))
    assert probs.shape == (1, 32, 32)
    assert calls[0] == ("cuda", 256) and calls[1] == ("cuda", 128) and calls[-1][0] == "cpu"
    assert "out of memory" in pred.fallback_message
