"""PyTorch's own distributed engine for training across GPUs and machines (``torchrun``).

Without torchrun's environment (WORLD_SIZE unset or 1) every helper here is a no-op, so one
code path serves a laptop and a cluster.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass

import torch
import torch.distributed as tdist

from segapp.ml.device import resolve_device


@dataclass
class Context:
    """This process's place in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.distributed:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def setup(device_name: str = "auto") -> Context:
    """Join the process group torchrun describes (if any) and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if world > 1 and not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Context(rank, world, local, device)


def finish(ctx: Context, wait_s: float = 5.0) -> None:
    """Meet every rank at the end of a run that went well, and let gloo's worker threads let
    go of the last collective's tensors before Python shuts down.

    A gloo worker drops a finished collective after the caller's wait returns; dropping a
    tensor that Python made needs the GIL. When the interpreter was already shutting down,
    that thread was made to exit inside a C++ destructor, and the rank aborted ("terminate
    called without an active exception", SIGABRT) after the run had written everything: 3
    runs in 40 on a busy 2-core machine (``benchmarks/bench_torchrun_exit.py``). So the last
    collective is one whose tensor this function holds, and it waits (``wait_s`` at most)
    until the worker's reference is gone: Python's count of references to it falls back."""
    if not (ctx.distributed and tdist.is_initialized()):
        return
    probe = torch.zeros(1, device=_comm_device(ctx))
    alone = sys.getrefcount(probe)
    tdist.all_reduce(probe)  # every rank meets here
    deadline = time.monotonic() + wait_s
    while sys.getrefcount(probe) > alone and time.monotonic() < deadline:
        time.sleep(0.001)  # the GIL is free for the worker meanwhile


def teardown(ctx: Context) -> None:
    if ctx.distributed and tdist.is_initialized():
        tdist.destroy_process_group()


def loader(dataset, batch_size: int, train: bool, workers: int, ctx: Context, seed: int):
    """DataLoader with a DistributedSampler under torchrun (each rank sees its shard)."""
    from torch.utils.data import DataLoader, DistributedSampler

    sampler = None
    if ctx.distributed:
        sampler = DistributedSampler(
            dataset, ctx.world_size, ctx.rank, shuffle=train, seed=seed, drop_last=False
        )
    drop_last = train and len(dataset) > batch_size * ctx.world_size
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=ctx.device.type == "cuda",
        persistent_workers=workers > 0,
    )


def shared_memory_free() -> int | None:
    """Bytes free in /dev/shm, where loading processes hand their batches over on Linux;
    None where there is none (macOS, Windows) or it cannot be read."""
    try:
        return shutil.disk_usage("/dev/shm").free if os.path.isdir("/dev/shm") else None
    except OSError:
        return None


def set_epoch(loader, epoch: int) -> None:
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def any_rank(flag: bool, ctx: Context) -> bool:
    """True on every rank if ``flag`` is true on any (so all ranks stop together)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_comm_device(ctx))
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return bool(t.item())


def mean_over_ranks(total: float, count: int, ctx: Context) -> float:
    """Sum of ``total`` / sum of ``count`` over all ranks."""
    if ctx.distributed:
        t = torch.tensor([total, float(count)], dtype=torch.float64, device=_comm_device(ctx))
        tdist.all_reduce(t)
        total, count = float(t[0]), int(t[1])
    return total / max(count, 1)


def min_over_ranks(value: float, ctx: Context) -> float:
    """The smallest ``value`` over all ranks (every rank then plans the same epochs)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=_comm_device(ctx))
    tdist.all_reduce(t, op=tdist.ReduceOp.MIN)
    return float(t.item())


def reduce_metrics(metrics, ctx: Context) -> None:
    """Sum a SegMetrics' counts over ranks in place."""
    if not ctx.distributed:
        return
    state = metrics.state()
    for name, value in state.items():
        t = torch.as_tensor(value, dtype=torch.float64, device=_comm_device(ctx))
        tdist.all_reduce(t)
        state[name] = t.cpu().numpy()
    metrics.load_state(state)


def gather_checksums(model: torch.nn.Module, ctx: Context) -> list[float]:
    """Each rank's sum of |parameters| (equal on all ranks when DDP keeps them in sync)."""
    with torch.no_grad():
        local = sum(float(p.double().abs().sum()) for p in model.parameters())
    t = torch.tensor([local], dtype=torch.float64, device=_comm_device(ctx))
    out = [torch.zeros_like(t) for _ in range(ctx.world_size)]
    tdist.all_gather(out, t)
    return [float(o.item()) for o in out]


def _comm_device(ctx: Context) -> torch.device:
    return ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
