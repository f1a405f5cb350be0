"""``ModelSpec``: everything needed to rebuild a network, saved as JSON beside its weights.

A module of its own (no torch) so the model builders (``unet``, ``pretrained``), the
registry and the checkpoint reader all import it without importing each other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from segapp.core.imageio import SegappError

ARCHS = ("unet", "unetpp", "smp-unet", "smp-unetpp")


class ModelError(SegappError):
    """A model cannot be built or loaded (unknown preset, missing weights ...)."""


@dataclass
class ModelSpec:
    """Everything needed to rebuild a network; saved as JSON beside its weights."""

    arch: str = "unet"
    in_channels: int = 3
    classes: int = 1  # 1 = binary (sigmoid); N >= 2 = N classes (softmax)
    # custom U-Net family (unet.py)
    depth: int = 4
    base_channels: int = 64
    padding: str = "same"  # "same" | "valid" (2015 paper, crop-and-concatenate)
    batchnorm: bool = True
    down: str = "maxpool"  # "maxpool" | "strided"
    up: str = "transpose"  # "transpose" | "interp" (nearest + 1x1 conv)
    dropout: float = 0.0  # at the bottleneck
    activation: str = "relu"  # "relu" | "leakyrelu"
    # segmentation_models_pytorch (pretrained.py)
    encoder: str = ""
    encoder_weights: str = ""  # "imagenet", "" (random) or a local weights file
    preset: str = ""  # the preset this spec came from, for display
    # click-to-correct (interactive.py): extra input channels after the image's, the
    # previous mask and the positive and negative click disks; 0 = a proposal model only
    click_channels: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"model spec has unknown fields {sorted(unknown)}; newer segapp?")
        spec = cls(**data)
        spec.validate()
        return spec

    def replace(self, **changes: Any) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    @property
    def net_in_channels(self) -> int:
        """Channels of the network's input: the image's, then the click channels."""
        return self.in_channels + self.click_channels

    @property
    def is_binary(self) -> bool:
        return self.classes == 1

    @property
    def out_classes(self) -> int:
        """Number of label classes the model predicts (background included)."""
        return 2 if self.classes == 1 else self.classes

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ModelError(
                f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}"
            )
        if self.classes < 1 or self.in_channels < 1:
            raise ModelError("classes and in_channels must be >= 1")
        if self.click_channels not in (0, 3):
            raise ModelError(f"click_channels must be 0 or 3, not {self.click_channels!r}")
        if self.padding not in ("same", "valid"):
            raise ModelError(f"padding must be 'same' or 'valid', not {self.padding!r}")
        if self.down not in ("maxpool", "strided") or self.up not in ("transpose", "interp"):
            raise ModelError("down must be maxpool|strided and up transpose|interp")
        if self.arch.startswith("smp") and not self.encoder:
            raise ModelError("an smp model needs an encoder name")
