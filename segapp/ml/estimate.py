"""How long will an epoch take? From an earlier version's throughput, or a quick measurement.

``from_history`` reads ``metrics.csv`` of earlier versions (images per second, measured on
whole epochs, validation included) and scales it to the new image size; it is free.
``measure`` times a few training steps of the chosen network on random tensors (torch;
run it off the GUI thread).
"""

from __future__ import annotations

import csv
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Estimate:
    seconds_per_epoch: float
    images_per_second: float
    source: str  # "v002" (history) or "measured on cpu"


def run_seconds(images_per_second: float, samples: int, epochs: int, n_val: int) -> float:
    """``samples`` training images, plus ``epochs`` validations of ``n_val`` images as a
    forward pass each (about a third of a training step)."""
    return samples / images_per_second + epochs * n_val / (3 * images_per_second)


def epoch_seconds(images_per_second: float, n_train: int, n_val: int) -> float:
    """One pass over ``n_train`` images and one validation."""
    return run_seconds(images_per_second, n_train, 1, n_val)


def version_throughput(folder: Path) -> float | None:
    """Median images/s over a version's epochs (the first, warming up, left out)."""
    path = Path(folder) / "metrics.csv"
    try:
        with path.open() as f:
            values = [float(r["images_per_second"]) for r in csv.DictReader(f)]
    except (OSError, KeyError, ValueError):
        return None
    values = values[1:] if len(values) > 1 else values
    values = [v for v in values if v > 0]
    return statistics.median(values) if values else None


def base_preset(base: str, versions: list[Any]) -> str:
    """The preset a base model comes from: the name itself, or a version's ``model.preset``."""
    for v in versions:
        if str(v.path) == str(base) or v.name == base:
            return v.preset
    return base


def from_history(
    versions: list[Any], preset: str, size: int, n_train: int, resize_mode: str = "resize"
) -> Estimate | None:
    """Seconds per epoch from the newest version trained with the same preset, or None."""
    for v in reversed(versions):
        if v.preset != preset:
            continue
        ips = version_throughput(v.path)
        if not ips:
            continue
        train = v.config.get("train", {})
        old_size = int(train.get("size") or size)
        if resize_mode == "resize" and train.get("resize_mode", "resize") == "resize":
            ips *= (old_size / size) ** 2
        return Estimate(n_train / ips, ips, v.name)
    return None


def measure(
    base: str,
    classes: int,
    size: int,
    batch_size: int,
    n_train: int,
    n_val: int,
    device: str = "auto",
    steps: int = 3,
    max_side: int = 160,
    max_batch: int = 2,
) -> Estimate:
    """Time ``steps`` forward+backward passes after one warm-up pass; the fastest counts.

    Cheap on purpose (it runs beside the labeling): at most ``max_batch`` images of at most
    ``max_side`` px, scaled to the real size by the pixel count (convolutions cost about
    linearly in pixels).
    """
    import torch

    from segapp.ml.checkpoint import load_model
    from segapp.ml.device import autocast_dtype, resolve_device

    dev = resolve_device(device)
    loaded = load_model(base, dev, classes=1 if classes == 2 else classes)
    model = loaded.model.train()
    from segapp.ml import recipe
    from segapp.ml.finetune import channels_last, ready_for_training
    from segapp.ml.tiling import train_tile

    amp = autocast_dtype(dev)  # as a run trains, by default
    model, _frozen = ready_for_training(model, loaded.spec, dev, recipe.FREEZE_ENCODER_STRIDE, amp)
    real_side = train_tile(model, size).input  # valid convolutions: with the mirrored margin
    side = train_tile(model, min(size, max_side)).input
    b = max(1, min(batch_size, n_train, max_batch))
    x = torch.rand(b, loaded.spec.net_in_channels, side, side, device=dev)
    if channels_last(dev):
        x = x.contiguous(memory_format=torch.channels_last)

    def step() -> None:  # no optimizer: its update is cheap, and creating one imports dynamo
        model.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
            out = model(x)
        out.float().square().mean().backward()

    step()
    times = []
    for _ in range(steps):  # the fastest: a step the machine's other work slowed says less
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
    ips = b / max(min(times), 1e-9) * (side / real_side) ** 2
    return Estimate(epoch_seconds(ips, n_train, n_val), ips, f"measured on {dev.type}")


def format_duration(seconds: float) -> str:
    """'0.4 s', '45 s', '3 min 20 s', '1 h 05 min'."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"
