"""Fine-tuning a pretrained encoder on few images, and the CPU/GPU memory layout for training.

A pretrained encoder keeps its ImageNet BatchNorm statistics, its high-resolution layers stay
frozen and the rest learns slower than the decoder (docs/first-rounds.md); the learning
rate follows ``recipe.lr_factor`` over the planned optimizer steps.
"""

from __future__ import annotations

import functools

import torch

from segapp.ml import recipe
from segapp.ml.click_stem import click_parameters


class PlannedLR:
    """``LambdaLR`` factor over the planned steps; the time budget shortens a run by setting
    ``total``. Its attributes travel in the scheduler's state dict (``--resume``)."""

    def __init__(self, total: int, warmup: int) -> None:
        self.total, self.warmup = total, warmup

    def __call__(self, step: int) -> float:
        return recipe.lr_factor(step, self.total, self.warmup)


def param_groups(model: torch.nn.Module, lr: float, encoder_scale: float) -> list[dict]:
    """A pretrained encoder learns at ``lr * encoder_scale``, everything else at ``lr``."""
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, torch.nn.Module) or encoder_scale == 1:
        return [{"params": list(model.parameters()), "lr": lr}]
    clicks = {id(p) for p in click_parameters(model)}  # new weights: the decoder's rate
    enc_ids = {id(p) for p in encoder.parameters()} - clicks
    rest = [p for p in model.parameters() if id(p) not in enc_ids]
    trainable = [p for p in encoder.parameters() if p.requires_grad and id(p) not in clicks]
    return [{"params": trainable, "lr": lr * encoder_scale}, {"params": rest, "lr": lr}]


def channels_last(device: torch.device) -> bool:
    """NHWC activations: faster convolutions on CUDA and on CPUs (oneDNN, ~1.5x measured)."""
    return device.type in ("cuda", "cpu")


def ready_for_training(
    model: torch.nn.Module, spec, device: torch.device, freeze_stride: int, amp_dtype
) -> tuple[torch.nn.Module, int]:
    """The model as a run trains it: on ``device`` (channels-last where that is faster), a
    pretrained encoder's layers up to ``freeze_stride`` frozen (0: none) and the depthwise
    convolutions that learn in float32 under CPU bfloat16. Returns (model, frozen tensors).
    A run and the Train panel's estimate both call it, so the estimate times a run's step."""
    if channels_last(device):
        model = model.to(memory_format=torch.channels_last)
    model = model.to(device)
    frozen = freeze_early_layers(model, spec, freeze_stride) if freeze_stride else 0
    float32_depthwise(model, device, amp_dtype)
    return model, frozen


def float32_depthwise(model: torch.nn.Module, device: torch.device, amp_dtype) -> int:
    """Under bfloat16 autocast on a CPU, run the depthwise convolutions that learn in float32:
    oneDNN's bfloat16 depthwise backward is 2-5x slower than its float32 one (channels-last,
    2-core AMD EPYC with AVX512-BF16), so it took a third of a Lite1 U-Net's step, and the
    step is ~1.2x faster without it. Frozen ones (forward only) stay bfloat16, which is
    faster there. Call after freezing; returns how many were switched."""
    if device.type != "cpu" or amp_dtype != torch.bfloat16:
        return 0
    switched = 0
    for m in model.modules():
        depthwise = isinstance(m, torch.nn.Conv2d) and 1 < m.groups == m.in_channels
        if depthwise and m.weight.requires_grad:
            m.forward = functools.partial(_float32_forward, m.forward)
            switched += 1
    return switched


def _float32_forward(forward, x: torch.Tensor) -> torch.Tensor:
    with torch.autocast("cpu", enabled=False):
        return forward(x.float())


def freeze_early_layers(model: torch.nn.Module, spec, max_stride: int) -> int:
    """Freeze the layers of a pretrained encoder whose output is at most ``max_stride`` times
    smaller than the input (the stem and first stages: generic ImageNet edges and textures,
    and the costliest to back-propagate through). Returns the number of frozen tensors."""
    encoder = getattr(model, "encoder", None)
    if not spec.encoder_weights or not isinstance(encoder, torch.nn.Module):
        return 0
    side = 64
    strides: dict[torch.nn.Module, int] = {}

    def record(module, _inputs, out) -> None:
        if isinstance(out, torch.Tensor) and out.dim() == 4:
            strides.setdefault(module, side // out.shape[-1])

    hooks = [
        m.register_forward_hook(record)
        for m in encoder.modules()
        if list(m.parameters(recurse=False))
    ]
    try:
        with torch.no_grad():
            was_training = encoder.training
            encoder.eval()
            param = next(encoder.parameters())
            encoder(torch.zeros(1, spec.net_in_channels, side, side, device=param.device))
            encoder.train(was_training)
    finally:
        for h in hooks:
            h.remove()
    frozen = 0
    clicks = {id(p) for p in click_parameters(model)}
    for module, stride in strides.items():
        if stride <= max_stride:
            for p in module.parameters(recurse=False):
                if id(p) in clicks:
                    continue
                p.requires_grad_(False)
                frozen += 1
    return frozen


def frozen_batchnorms(model: torch.nn.Module, spec) -> list[torch.nn.Module]:
    """The BatchNorm layers of a pretrained encoder, whose running statistics stay as they
    are (few images give noisy batch statistics; ImageNet's are a better estimate)."""
    encoder = getattr(model, "encoder", None)
    if not spec.encoder_weights or not isinstance(encoder, torch.nn.Module):
        return []
    return [m for m in encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
