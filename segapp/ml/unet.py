"""The custom U-Net family as options of one module, built from a :class:`ModelSpec`.

- :class:`UNet` — Ronneberger et al. 2015 and its common variants: depth and width,
  padded ("same") or valid convolutions with crop-and-concatenate skips, BatchNorm or not,
  max-pool or strided-conv down, transposed-conv or nearest+1x1 up, bottleneck dropout.
- :class:`UNetPlusPlus` — Zhou et al. 2018, nested dense skip pathways, padded convolutions.

Both return raw logits (N, classes, H', W') and carry the registry's geometry contract
(``valid_input_size``, ``output_size``, ``size_multiple``).

``spec.extra`` options: ``down_kernel`` (2 or 3) for strided down-sampling (default 3 for
padded networks, 2 for valid ones), ``negative_slope`` for LeakyReLU (default 0.01).
"""

from __future__ import annotations

import torch
from torch import nn

from segapp.ml.spec import ModelError, ModelSpec
from segapp.ml.tiling import NetGeometry


def _activation(spec: ModelSpec) -> nn.Module:
    if spec.activation == "relu":
        return nn.ReLU(inplace=True)
    if spec.activation == "leakyrelu":
        return nn.LeakyReLU(float(spec.extra.get("negative_slope", 0.01)), inplace=True)
    raise ModelError(f"activation must be 'relu' or 'leakyrelu', not {spec.activation!r}")


class DoubleConv(nn.Sequential):
    """(3x3 conv -> [BatchNorm] -> activation) x 2; padded keeps the size, valid loses 4."""

    def __init__(self, in_ch: int, out_ch: int, spec: ModelSpec, padded: bool) -> None:
        layers: list[nn.Module] = []
        for c in (in_ch, out_ch):
            layers.append(nn.Conv2d(c, out_ch, 3, padding=int(padded), bias=not spec.batchnorm))
            if spec.batchnorm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(_activation(spec))
        super().__init__(*layers)


def _downsample(channels: int, spec: ModelSpec, padded: bool) -> nn.Module:
    """Halve the size: 2x2 max-pool or a stride-2 convolution (same geometry on even sizes)."""
    if spec.down == "maxpool":
        return nn.MaxPool2d(2)
    k = int(spec.extra.get("down_kernel", 3 if padded else 2))
    if k not in (2, 3):
        raise ModelError(f"down_kernel must be 2 or 3, not {k}")
    return nn.Conv2d(channels, channels, k, stride=2, padding=(k - 1) // 2)


def _upsample(in_ch: int, out_ch: int, spec: ModelSpec) -> nn.Module:
    """Double the size and map in_ch -> out_ch: 2x2 transposed conv or nearest + 1x1 conv."""
    if spec.up == "transpose":
        return nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 1))


def center_crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The central (h, w) window of x (no-op when the sizes already match)."""
    dh, dw = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., dh : dh + h, dw : dw + w]


class Down(nn.Sequential):
    """Down-sample, then DoubleConv (one encoder level)."""

    def __init__(self, in_ch: int, out_ch: int, spec: ModelSpec, padded: bool) -> None:
        super().__init__(_downsample(in_ch, spec, padded), DoubleConv(in_ch, out_ch, spec, padded))


class Up(nn.Module):
    """Up-sample, crop-and-concatenate the skip, then DoubleConv (one decoder level)."""

    def __init__(self, in_ch: int, out_ch: int, spec: ModelSpec, padded: bool) -> None:
        super().__init__()
        self.up = _upsample(in_ch, out_ch, spec)
        self.conv = DoubleConv(2 * out_ch, out_ch, spec, padded)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        skip = center_crop(skip, x.shape[-2], x.shape[-1])
        return self.conv(torch.cat([skip, x], dim=1))


def _init_weights(module: nn.Module, spec: ModelSpec) -> None:
    """Kaiming-normal (fan-in) convolutions, zero biases, unit BatchNorm."""
    leaky = spec.activation == "leakyrelu"
    slope = float(spec.extra.get("negative_slope", 0.01)) if leaky else 0.0
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(
                m.weight, a=slope, nonlinearity="leaky_relu" if leaky else "relu"
            )
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class _Geometry(nn.Module):
    """The registry's geometry contract for a U-Net of ``depth`` down steps."""

    depth: int
    padded: bool
    size_multiple: int

    def _setup(self, spec: ModelSpec, padded: bool) -> None:
        if spec.depth < 1:
            raise ModelError(f"depth must be >= 1, not {spec.depth}")
        if spec.base_channels < 1:
            raise ModelError(f"base_channels must be >= 1, not {spec.base_channels}")
        if not 0.0 <= spec.dropout < 1.0:
            raise ModelError(f"dropout must be in [0, 1), not {spec.dropout}")
        self.spec = spec
        self.depth = spec.depth
        self.padded = padded
        self.size_multiple = 2**spec.depth

    @property
    def geometry(self) -> NetGeometry:
        """Its sizes without the module (what an ONNX export of it needs)."""
        return NetGeometry(self.size_multiple, 0 if self.padded else self.depth)

    def valid_input_size(self, n: int) -> int:
        """The smallest legal input size >= n along one axis."""
        return self.geometry.valid_input_size(n)

    def output_size(self, n: int) -> int:
        """Output size along one axis for a legal input size n (ValueError otherwise)."""
        return self.geometry.output_size(n)

    def _check_input(self, x: torch.Tensor) -> None:
        self.output_size(x.shape[-2])
        self.output_size(x.shape[-1])


class UNet(_Geometry):
    """U-Net (Ronneberger et al. 2015) with the options of :class:`ModelSpec`."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self._setup(spec, padded=spec.padding == "same")
        ch = [spec.base_channels * 2**i for i in range(spec.depth + 1)]
        self.inc = DoubleConv(spec.in_channels, ch[0], spec, self.padded)
        self.downs = nn.ModuleList(
            Down(ch[i], ch[i + 1], spec, self.padded) for i in range(spec.depth)
        )
        self.bottleneck_dropout = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        self.ups = nn.ModuleList(
            Up(ch[i + 1], ch[i], spec, self.padded) for i in reversed(range(spec.depth))
        )
        self.head = nn.Conv2d(ch[0], spec.classes, 1)
        _init_weights(self, spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = self.bottleneck_dropout(skips.pop())
        for up in self.ups:
            x = up(x, skips.pop())
        return self.head(x)


class UNetPlusPlus(_Geometry):
    """UNet++ (Zhou et al. 2018): nested dense skip pathways, padded convolutions.

    Node X[i][j] (level i, column j) sees X[i][0..j-1] and the up-sampled X[i+1][j-1];
    the head reads X[0][depth].
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.padding != "same":
            raise ModelError("UNet++ supports padded ('same') convolutions only")
        self._setup(spec, padded=True)
        d = spec.depth
        ch = [spec.base_channels * 2**i for i in range(d + 1)]
        self.encoder = nn.ModuleList(
            [DoubleConv(spec.in_channels, ch[0], spec, True)]
            + [Down(ch[i - 1], ch[i], spec, True) for i in range(1, d + 1)]
        )
        self.bottleneck_dropout = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        # nested nodes X[i][j], j >= 1, keyed "i_j"
        self.ups = nn.ModuleDict()
        self.nodes = nn.ModuleDict()
        for j in range(1, d + 1):
            for i in range(d + 1 - j):
                self.ups[f"{i}_{j}"] = _upsample(ch[i + 1], ch[i], spec)
                self.nodes[f"{i}_{j}"] = DoubleConv(ch[i] * (j + 1), ch[i], spec, True)
        self.head = nn.Conv2d(ch[0], spec.classes, 1)
        _init_weights(self, spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        d = self.depth
        grid: list[list[torch.Tensor]] = []
        for i, block in enumerate(self.encoder):
            x = block(x)
            grid.append([self.bottleneck_dropout(x) if i == d else x])
        for j in range(1, d + 1):
            for i in range(d + 1 - j):
                up = self.ups[f"{i}_{j}"](grid[i + 1][j - 1])
                grid[i].append(self.nodes[f"{i}_{j}"](torch.cat([*grid[i], up], dim=1)))
        return self.head(grid[0][d])
