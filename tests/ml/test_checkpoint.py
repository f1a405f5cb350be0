"""Every registered model round-trips: forward, backward, save, load, same output."""

from __future__ import annotations

import pickle

import pytest
import torch

from segapp.ml.checkpoint import load_checkpoint, load_model, save_checkpoint
from segapp.ml.registry import PRESETS, create_model, preset_spec
from segapp.ml.spec import ModelError
from segapp.ml.weights_file import read_state_dict

SMALL = {"base_channels": 4}


def _spec(name: str, classes: int):
    spec = PRESETS[name][1]
    overrides = dict(SMALL) if spec.arch in ("unet", "unetpp") else {"encoder_weights": ""}
    if name == "unet-paper":
        overrides["depth"] = 2
    return preset_spec(name, classes=classes, **overrides)


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("classes", [1, 3])
def test_round_trip(name, classes, tmp_path):
    torch.manual_seed(0)
    spec = _spec(name, classes)
    model = create_model(spec)
    size = model.valid_input_size(64)
    x = torch.randn(2, 3, size, size)
    out = model(x)
    n = model.output_size(size)
    assert out.shape == (2, classes, n, n)
    out.mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval()
    with torch.no_grad():
        before = model(x)
    save_checkpoint(tmp_path / "ck", model, spec, {"note": "test"})
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.spec == spec
    assert loaded.config["note"] == "test"
    with torch.no_grad():
        after = loaded.model(x)
    torch.testing.assert_close(before, after)


def test_missing_weights_file(tmp_path):
    spec = _spec("unet-small", 1)
    save_checkpoint(tmp_path / "ck", create_model(spec), spec)
    (tmp_path / "ck" / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="model.safetensors is missing"):
        load_checkpoint(tmp_path / "ck")


def test_missing_config(tmp_path):
    (tmp_path / "ck").mkdir()
    with pytest.raises(ModelError, match="config.json is missing"):
        load_checkpoint(tmp_path / "ck")


def test_truncated_weights(tmp_path):
    spec = _spec("unet-small", 1)
    save_checkpoint(tmp_path / "ck", create_model(spec), spec)
    f = tmp_path / "ck" / "model.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "ck")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_is_not_run(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "model.pt"
    with open(bad, "wb") as f:
        pickle.dump({"w": _Evil(str(marker))}, f)
    with pytest.raises(ModelError, match="pickled"):
        read_state_dict(bad)
    with pytest.raises(ModelError, match="pickled"):
        load_model(bad)
    assert not marker.exists()


def test_unknown_preset():
    with pytest.raises(ModelError, match="not a model preset"):
        load_model("no-such-model")
