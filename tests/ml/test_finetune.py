"""Training-time model adjustments (segapp.ml.finetune)."""

from __future__ import annotations

import torch
from torch import nn

from segapp.ml.finetune import float32_depthwise


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=1, groups=4),  # depthwise, learns
        nn.Conv2d(4, 8, 1),  # pointwise
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise, frozen below
        nn.Conv2d(8, 8, 3, padding=1, groups=2),  # grouped, not depthwise
    )
    net[2].requires_grad_(False)
    return net


def _dtypes(net: nn.Sequential, x: torch.Tensor) -> list[torch.dtype]:
    seen = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype)) for m in net]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        net(x)
    for h in hooks:
        h.remove()
    return seen


def test_depthwise_convolutions_that_learn_run_in_float32_under_cpu_bfloat16():
    net, x = _net(), torch.rand(2, 4, 8, 8)
    keys = list(net.state_dict())
    assert _dtypes(net, x) == [torch.bfloat16] * 4
    assert float32_depthwise(net, torch.device("cpu"), torch.bfloat16) == 1
    # only the learning depthwise one; the frozen one and the others keep bfloat16
    assert _dtypes(net, x) == [torch.float32, torch.bfloat16, torch.bfloat16, torch.bfloat16]
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            switched = net[0](x)
        assert torch.equal(
            switched, nn.functional.conv2d(x, net[0].weight, net[0].bias, 1, 1, 1, 4)
        )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        net(x).float().sum().backward()
    assert net[0].weight.grad.dtype == torch.float32 and net[0].weight.grad.abs().sum() > 0
    assert list(net.state_dict()) == keys  # checkpoints unchanged


def test_nothing_changes_without_cpu_bfloat16():
    for device, dtype in (("cpu", None), ("cuda", torch.bfloat16), ("cuda", torch.float16)):
        net = _net()
        assert float32_depthwise(net, torch.device(device), dtype) == 0
        assert "forward" not in vars(net[0])
