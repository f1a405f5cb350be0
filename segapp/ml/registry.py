"""One way to build any model: ``create_model(spec)`` from a typed, JSON-able ``ModelSpec``.

Every network built here is a ``torch.nn.Module`` whose ``forward(x)`` maps an
(N, in_channels, H, W) float tensor to (N, classes, H', W') logits, and which has two
geometry methods the engine relies on (inference tiling, training crops):

- ``valid_input_size(n)``: the smallest legal input size >= n along one axis;
- ``output_size(n)``: the output size along one axis for a legal input size n
  (n itself for padded networks; smaller for the paper's valid convolutions, centred).
"""

from __future__ import annotations

from typing import Any

from segapp.ml.spec import ModelError, ModelSpec

PRESETS: dict[str, tuple[str, ModelSpec]] = {
    "unet-small": (
        "padded U-Net of the seed write-ups: depth 3, 16 start channels",
        ModelSpec(arch="unet", depth=3, base_channels=16),
    ),
    "unet": (
        "U-Net, depth 4, BatchNorm, 64..512 channels (Carvana write-up)",
        ModelSpec(arch="unet", depth=4, base_channels=64),
    ),
    "unet-paper": (
        "2015 paper: valid convolutions, crop-and-concatenate, overlap-tile inference",
        ModelSpec(
            arch="unet", depth=4, base_channels=64, padding="valid", batchnorm=False, dropout=0.5
        ),
    ),
    "unet-strided": (
        "strided-conv down, nearest+1x1 up, dropout, LeakyReLU (UNet/UNet++ write-up)",
        ModelSpec(
            arch="unet",
            depth=4,
            base_channels=32,
            down="strided",
            up="interp",
            dropout=0.3,
            activation="leakyrelu",
        ),
    ),
    "unetpp": (
        "UNet++ with nested skip pathways",
        ModelSpec(arch="unetpp", depth=4, base_channels=32),
    ),
    "pretrained-lite0": (
        "smp Unet on EfficientNet-Lite0, ImageNet weights shipped offline",
        ModelSpec(arch="smp-unet", encoder="tu-tf_efficientnet_lite0", encoder_weights="imagenet"),
    ),
    "pretrained-lite1": (
        "smp Unet on EfficientNet-Lite1, ImageNet weights shipped offline (default)",
        ModelSpec(arch="smp-unet", encoder="tu-tf_efficientnet_lite1", encoder_weights="imagenet"),
    ),
    "pretrained-resnet34": (
        "smp Unet on ResNet34, ImageNet weights downloaded (or --encoder-weights FILE)",
        ModelSpec(arch="smp-unet", encoder="resnet34", encoder_weights="imagenet"),
    ),
}

DEFAULT_PRESET = "pretrained-lite1"  # measured against lite0: README "Model presets"


def preset_spec(name: str, classes: int = 1, in_channels: int = 3, **overrides: Any) -> ModelSpec:
    """The ModelSpec of a named preset, for ``classes`` outputs (1 = binary)."""
    if name not in PRESETS:
        raise ModelError(f"unknown model preset {name!r}; available: {', '.join(PRESETS)}")
    spec = PRESETS[name][1].replace(
        preset=name, classes=classes, in_channels=in_channels, **overrides
    )
    spec.validate()
    return spec


def create_model(spec: ModelSpec, pretrained: bool = True):
    """Build the network a spec describes (torch.nn.Module with the geometry methods).

    ``pretrained=False`` skips loading encoder weights (used when a checkpoint's own
    weights are loaded right after).
    """
    spec.validate()
    if spec.arch == "unet":
        from segapp.ml.unet import UNet

        model = UNet(spec)
    elif spec.arch == "unetpp":
        from segapp.ml.unet import UNetPlusPlus

        model = UNetPlusPlus(spec)
    else:
        from segapp.ml.pretrained import create_smp_model

        model = create_smp_model(spec, pretrained=pretrained)
    if spec.click_channels:
        from segapp.ml.click_stem import add_click_stem

        add_click_stem(model, spec.in_channels, spec.click_channels)
    return model


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
