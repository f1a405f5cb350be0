"""The network's first convolution, taught to read clicks (RITM's "Conv1S").

A model that follows clicks takes its image channels, then the click channels (previous
mask, positive and negative click disks). :class:`ClickStem` replaces the first
convolution: the original one reads the image as before, a twin of it reads the click
channels, and the two outputs are added. The twin starts at zero, so a pretrained
encoder computes exactly what it did (its ImageNet features survive), and it stays
trainable at the decoder's learning rate while the image convolution may stay frozen.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from segapp.ml.spec import ModelError

CLICK_CHANNELS = 3  # previous mask, positive clicks, negative clicks


class ClickStem(nn.Module):
    """``image(x[:, :c]) + clicks(x[:, c:])`` with ``clicks`` a zero-initialised twin."""

    def __init__(self, image: nn.Conv2d, click_channels: int) -> None:
        super().__init__()
        self.image_channels = image.in_channels
        self.image = image
        twin = copy.deepcopy(image)  # the same class: timm's TF-"same" padding is kept
        twin.in_channels = click_channels
        twin.weight = nn.Parameter(
            torch.zeros(image.out_channels, click_channels, *image.kernel_size)
        )
        if twin.bias is not None:
            twin.bias = nn.Parameter(torch.zeros_like(image.bias))
        twin.requires_grad_(True)
        self.clicks = twin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.image_channels
        return self.image(x[:, :c]) + self.clicks(x[:, c:])


def add_click_stem(model: nn.Module, in_channels: int, click_channels: int) -> None:
    """Replace the first convolution that reads the ``in_channels`` image by a ClickStem."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == in_channels:
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attr, ClickStem(module, click_channels))
            return
    raise ModelError(f"no convolution reads {in_channels} input channels; cannot add clicks")


def click_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that read the click channels (learn at the decoder's rate, never frozen)."""
    return [p for m in model.modules() if isinstance(m, ClickStem) for p in m.clicks.parameters()]
