"""The custom U-Net family: presets, shapes, geometry contract, options."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from segapp.ml.registry import PRESETS, create_model, preset_spec
from segapp.ml.spec import ModelError, ModelSpec
from segapp.ml.unet import DoubleConv, UNet, UNetPlusPlus

CUSTOM_PRESETS = [name for name, (_, spec) in PRESETS.items() if spec.arch in ("unet", "unetpp")]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def tiny(**changes) -> ModelSpec:
    return ModelSpec(**{"base_channels": 4, "depth": 3, **changes})


def types(model: nn.Module) -> set[type]:
    return {type(m) for m in model.modules()}


def test_custom_presets_exist() -> None:
    assert {"unet-small", "unet", "unet-paper", "unet-strided", "unetpp"} <= set(CUSTOM_PRESETS)


@pytest.mark.parametrize("name", CUSTOM_PRESETS)
def test_preset_forward_backward(name: str) -> None:
    spec = preset_spec(name, base_channels=4)
    model = create_model(spec)
    assert isinstance(model, UNetPlusPlus if spec.arch == "unetpp" else UNet)
    n = model.valid_input_size(24)
    x = torch.randn(2, 3, n, n)
    y = model(x)
    out = model.output_size(n)
    assert y.shape == (2, 1, out, out)
    assert torch.isfinite(y).all()
    y.mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


def test_paper_geometry_572_to_388() -> None:
    model = create_model(preset_spec("unet-paper", classes=2, in_channels=1, base_channels=2))
    assert model.valid_input_size(572) == 572
    assert model.output_size(572) == 388
    assert model.valid_input_size(1) == 188 and model.output_size(188) == 4
    assert model.valid_input_size(570) == 572
    for bad in (570, 571, 573, 187):
        with pytest.raises(ValueError):
            model.output_size(bad)
    with torch.no_grad():
        y = model(torch.randn(1, 1, 572, 572))
    assert y.shape == (1, 2, 388, 388)
    assert not types(model) & {nn.BatchNorm2d}
    assert all(m.padding == (0, 0) for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_padded_geometry(depth: int) -> None:
    model = UNet(tiny(depth=depth))
    mult = 2**depth
    assert model.size_multiple == mult
    for n in range(1, 100):
        m = model.valid_input_size(n)
        assert m >= n and m % mult == 0 and m - n < mult
        assert model.output_size(m) == m
    for bad in (mult + 1, mult - 1, 0):
        with pytest.raises(ValueError):
            model.output_size(bad)


@pytest.mark.parametrize("arch", [UNet, UNetPlusPlus])
def test_padded_non_square_shapes(arch: type) -> None:
    model = arch(tiny(depth=3))
    with torch.no_grad():
        assert model(torch.randn(1, 3, 24, 40)).shape == (1, 1, 24, 40)
        assert model(torch.randn(2, 3, 64, 8)).shape == (2, 1, 64, 8)
    with pytest.raises(ValueError, match="multiple of 8"):
        model(torch.randn(1, 3, 20, 40))


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_valid_geometry_matches_forward(depth: int) -> None:
    model = UNet(tiny(depth=depth, padding="valid", base_channels=2, batchnorm=False)).eval()
    assert not model.padded
    seen = set()
    for n in range(1, 120, 3):
        m = model.valid_input_size(n)
        assert m >= n
        out = model.output_size(m)
        assert 0 < out < m and (m - out) % 2 == 0
        for k in range(n, m):  # minimal: nothing between n and m is legal
            with pytest.raises(ValueError):
                model.output_size(k)
        seen.add((m, out))
    sizes = sorted(seen)
    for (h, oh), (w, ow) in zip(sizes[:4], sizes[1:5], strict=True):  # non-square too
        with torch.no_grad():
            assert model(torch.randn(1, 3, h, w)).shape == (1, 1, oh, ow)


def test_valid_legal_sizes_are_periodic() -> None:
    model = UNet(tiny(depth=4, padding="valid"))
    legal = [n for n in range(1, 400) if model.valid_input_size(n) == n]
    assert legal[0] == 188
    assert all(b - a == 16 for a, b in zip(legal, legal[1:], strict=False))
    assert [model.output_size(n) for n in legal[:3]] == [4, 20, 36]


@pytest.mark.parametrize("down", ["maxpool", "strided"])
def test_valid_output_tiles_exactly(down: str) -> None:
    """Overlap-tile property: a crop at a multiple of 2**depth gives the same output window."""
    model = UNet(tiny(depth=2, padding="valid", base_channels=2, down=down)).eval()
    big, small = model.valid_input_size(70), model.valid_input_size(40)
    assert big - model.output_size(big) == small - model.output_size(small)  # centred, constant
    out = model.output_size(small)
    x = torch.randn(1, 3, big, big)
    with torch.no_grad():
        full = model(x)
        for a, b in [(0, 0), (4, 8), (big - small - (big - small) % 4, 4)]:
            tile = model(x[..., a : a + small, b : b + small])
            torch.testing.assert_close(tile, full[..., a : a + out, b : b + out])


@pytest.mark.parametrize(
    ("arch", "changes"),
    [
        (UNet, {"padding": "valid"}),
        (UNet, {"padding": "valid", "up": "interp", "down": "strided"}),
        (UNet, {}),
        (UNetPlusPlus, {}),
    ],
)
def test_mirror_equivariance(arch: type, changes: dict) -> None:
    """With mirror-symmetric kernels the net must commute with a left-right flip: this only
    holds when skips are aligned by their centre (crop-and-concatenate) and nothing shifts."""
    model = arch(tiny(depth=2, base_channels=2, **changes)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                m.weight.copy_((m.weight + m.weight.flip(-1)) / 2)
        n = model.valid_input_size(50)
        x = torch.randn(1, 3, n, n)
        torch.testing.assert_close(model(x.flip(-1)), model(x).flip(-1))


@pytest.mark.parametrize("arch", [UNet, UNetPlusPlus])
def test_multiclass_channels(arch: type) -> None:
    model = arch(tiny(depth=2, classes=5, in_channels=1))
    with torch.no_grad():
        assert model(torch.randn(3, 1, 16, 12)).shape == (3, 5, 16, 12)
    assert model.head.out_channels == 5


def test_strided_down_and_interp_up_change_modules() -> None:
    base = UNet(tiny())
    assert nn.MaxPool2d in types(base) and nn.ConvTranspose2d in types(base)
    assert nn.Upsample not in types(base)

    alt = UNet(tiny(down="strided", up="interp"))
    assert nn.MaxPool2d not in types(alt) and nn.ConvTranspose2d not in types(alt)
    assert nn.Upsample in types(alt)
    strided = [m for m in alt.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 3 and all(m.kernel_size == (3, 3) for m in strided)
    ups = [m for m in alt.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == 3 and all(u.mode == "nearest" and u.scale_factor == 2 for u in ups)
    with torch.no_grad():
        assert alt(torch.randn(1, 3, 16, 24)).shape == (1, 1, 16, 24)

    k2 = UNet(tiny(down="strided", extra={"down_kernel": 2}))
    assert {
        m.kernel_size for m in k2.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)
    } == {(2, 2)}


def test_strided_valid_geometry() -> None:
    model = UNet(tiny(depth=2, padding="valid", down="strided", up="interp", base_channels=2))
    n = model.valid_input_size(50)
    with torch.no_grad():
        y = model(torch.randn(1, 3, n, n))
    assert y.shape[-1] == model.output_size(n)


@pytest.mark.parametrize("arch", [UNet, UNetPlusPlus])
def test_dropout_at_bottleneck(arch: type) -> None:
    model = arch(tiny(dropout=0.3))
    assert isinstance(model.bottleneck_dropout, nn.Dropout)
    assert model.bottleneck_dropout.p == pytest.approx(0.3)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops == [model.bottleneck_dropout]
    assert nn.Dropout not in types(arch(tiny(dropout=0.0)))
    x = torch.randn(1, 3, 16, 16)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # stochastic in training
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_batchnorm_and_activation_options() -> None:
    bn = UNet(tiny())
    assert nn.BatchNorm2d in types(bn) and nn.ReLU in types(bn)
    assert all(
        m.bias is None for m in bn.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
    )
    plain = UNet(tiny(batchnorm=False, activation="leakyrelu"))
    assert nn.BatchNorm2d not in types(plain)
    assert nn.LeakyReLU in types(plain) and nn.ReLU not in types(plain)
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))


def test_channel_widths_double_per_level() -> None:
    model = UNet(tiny(depth=3, base_channels=6))

    def last_conv_width(block: nn.Module) -> int:
        return [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1].out_channels

    assert last_conv_width(model.inc) == 6
    assert [last_conv_width(d) for d in model.downs] == [12, 24, 48]
    assert [last_conv_width(u) for u in model.ups] == [24, 12, 6]


def test_unetpp_structure_and_shape() -> None:
    depth = 3
    model = UNetPlusPlus(tiny(depth=depth, base_channels=4, up="interp", down="strided"))
    blocks = [m for m in model.modules() if isinstance(m, DoubleConv)]
    assert len(blocks) == (depth + 1) * (depth + 2) // 2  # every node of the nested grid
    # X[0][3] sees X[0][0..2] and the up-sampled X[1][2]: 4 * base channels in
    assert model.nodes["0_3"][0].in_channels == 16
    x = torch.randn(2, 3, 24, 16, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 1, 24, 16)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ModelError):
        UNetPlusPlus(tiny(padding="valid"))


def test_kaiming_init() -> None:
    model = UNet(ModelSpec(depth=1, base_channels=64, batchnorm=False))
    conv = model.downs[0][1][0]  # 64 -> 128, 3x3
    fan_in = conv.in_channels * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    assert torch.count_nonzero(conv.bias) == 0


def test_invalid_options_raise() -> None:
    with pytest.raises(ModelError):
        UNet(tiny(depth=0))
    with pytest.raises(ModelError):
        UNet(tiny(activation="gelu"))
    with pytest.raises(ModelError):
        UNet(tiny(down="strided", extra={"down_kernel": 5}))
