"""Training: ``train(config, should_stop)`` is a plain generator of per-epoch metrics.

The CLI, the window (through the CLI in a separate process) and the tests all use it.
Under ``torchrun`` it runs DistributedDataParallel (NCCL on GPUs, gloo on CPUs): each rank
trains on its shard, validation counts are summed over ranks, rank 0 writes checkpoints.

Output folder layout: the best checkpoint by validation IoU (``config.json``,
``model.safetensors``, ``metrics.csv``) and ``last/`` (latest weights + optimizer state)
for ``--resume``.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segapp.core.imageio import SegappError, write_bytes_atomic
from segapp.core.project import Project
from segapp.ml import distributed as dist
from segapp.ml.checkpoint import (
    load_model,
    load_optimizer,
    read_config,
    save_checkpoint,
    save_optimizer,
)
from segapp.ml.data import DataError, SegDataset, load_pairs
from segapp.ml.device import is_out_of_memory
from segapp.ml.losses import make_loss
from segapp.ml.metrics import SegMetrics, labels_from_logits
from segapp.ml.registry import DEFAULT_PRESET

log = logging.getLogger(__name__)


class TrainingError(SegappError):
    """Training cannot go on (out of memory, diverged, no data ...); the best checkpoint stays."""


@dataclass
class TrainConfig:
    """Everything a training run needs; saved in every checkpoint's config.json."""

    data: str
    out: str
    model: str = DEFAULT_PRESET
    epochs: int = 30
    size: int = 320
    batch_size: int = 8
    lr: float = 1e-3
    loss: str = "bce-dice"
    val_fraction: float = 0.2
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    resize_mode: str = "resize"
    augment: str = "medium"
    patience: int = 10
    workers: int = 0
    amp: bool = True
    encoder_weights: str | None = None
    tensorboard: str | None = None
    images: list[str] | None = None  # restrict training to these stems (the window: corrected)
    val_images: list[str] | None = None  # a fixed validation subset
    repeats: int = 1  # passes over the training images per epoch (small sets)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class EpochMetrics:
    """One epoch's figures, as printed by ``segapp train --json``."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    val_iou: float
    val_dice: float
    lr: float
    seconds: float
    eta_seconds: float
    images_per_second: float
    best_epoch: int
    best_iou: float
    stopped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(d.pop("extra"))
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}


BatchCallback = Callable[[int, int, float], None]


def train(
    config: TrainConfig,
    should_stop: Callable[[], bool] | None = None,
    on_batch: BatchCallback | None = None,
) -> Iterator[EpochMetrics]:
    """Train and yield metrics after each epoch; ``should_stop()`` ends early, gracefully."""
    should_stop = should_stop or (lambda: False)
    ctx = dist.setup(config.device)
    try:
        yield from _train(config, ctx, should_stop, on_batch)
    finally:
        dist.teardown(ctx)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _select_entries(project: Project, config: TrainConfig):
    pool = project.labeled()
    skipped = len(project.entries) - len(pool)  # images without masks
    if config.images is not None:  # a chosen list: only its images without masks count
        wanted = set(config.images) | set(config.val_images or [])
        pool = [e for e in pool if e.stem in wanted]
        skipped = len(wanted & {e.stem for e in project.entries}) - len(pool)
    if not project.entries:
        raise DataError(f"{project.images_dir}: no images (PNG/JPEG/TIFF/BMP) found")
    if not pool:
        raise DataError(
            f"{project.root}: {len(project.entries)} images but none has a mask in "
            f"{project.masks_dir} (masks pair with images by file stem)"
        )
    if config.val_images:
        project.val_stems = list(config.val_images)
    train_e, val_e = project.split(config.val_fraction, config.seed, pool)
    if not train_e:
        raise DataError("every labeled image is in the validation set; label more images")
    return train_e, val_e, skipped


def _train(config: TrainConfig, ctx: dist.Context, should_stop, on_batch) -> Iterator[EpochMetrics]:
    _seed_everything(config.seed + ctx.rank)
    out = Path(config.out)
    device = ctx.device
    project = Project.open(config.data)
    classes = 1 if project.is_binary else project.num_classes
    train_e, val_e, skipped = _select_entries(project, config)
    if ctx.is_main and skipped:
        log.info("skipped %d images without masks", skipped)

    overrides = {"encoder_weights": config.encoder_weights} if config.encoder_weights else {}
    loaded = load_model(config.model, "cpu", classes=classes, **overrides)
    spec = loaded.spec
    if spec.classes != classes:
        raise TrainingError(
            f"{config.model} predicts {spec.out_classes} classes but {config.data} has "
            f"{project.num_classes}; start from a preset instead"
        )
    model = loaded.model
    in_size = model.valid_input_size(config.size)
    out_size = model.output_size(in_size)

    pairs_train = load_pairs(project, train_e, spec.in_channels, in_size, config.resize_mode)
    pairs_val = load_pairs(project, val_e, spec.in_channels, in_size, config.resize_mode)
    if ctx.is_main and project.rescaled_masks:
        log.info(
            "%d masks were scaled to their image's size (same aspect ratio, other resolution)",
            len(project.rescaled_masks),
        )
    weighted = config.loss == "weighted-ce"
    ds_train = SegDataset(
        pairs_train,
        spec,
        in_size,
        out_size,
        config.augment,
        config.resize_mode,
        True,
        weighted,
        config.repeats,
    )
    ds_val = SegDataset(
        pairs_val, spec, in_size, out_size, "none", config.resize_mode, False, weighted
    )
    loader_train = dist.loader(ds_train, config.batch_size, True, config.workers, ctx, config.seed)
    loader_val = dist.loader(ds_val, config.batch_size, False, config.workers, ctx, config.seed)

    use_cuda = device.type == "cuda"
    if use_cuda:
        model = model.to(memory_format=torch.channels_last)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, max(1, config.epochs), eta_min=config.lr * 0.01
    )
    start_epoch, best_iou, best_epoch, history = 1, -1.0, 0, []
    if config.resume and (out / "last" / "config.json").exists():
        start_epoch, best_iou, best_epoch, history = _resume(out, model, optimizer, scheduler)
        log.info(
            "resuming at epoch %d (best IoU %.4f at epoch %d)", start_epoch, best_iou, best_epoch
        )
    ddp_model = ctx.wrap(model)
    loss_fn = make_loss(config.loss, spec.classes)
    amp_dtype = None
    if use_cuda and config.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    writer = _tensorboard(config.tensorboard) if ctx.is_main else None

    meta = {
        "train": config.to_dict(),
        "base_model": config.model,
        "images": [p.stem for p in pairs_train],
        "val_images": [p.stem for p in pairs_val],
        "skipped_without_mask": skipped,
        "rescaled_masks": len(project.rescaled_masks),
        "world_size": ctx.world_size,
    }
    epoch_times: list[float] = []
    for epoch in range(start_epoch, config.epochs + 1):
        t0 = time.perf_counter()
        dist.set_epoch(loader_train, epoch)
        ddp_model.train()
        loss_sum, seen, stopped = 0.0, 0, False
        n_batches = len(loader_train)
        for i, (x, y, w) in enumerate(loader_train):
            x = x.to(device, non_blocking=True)
            if use_cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            w = w.to(device) if weighted else None
            try:
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = loss_fn(ddp_model(x), y, w)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            except Exception as e:
                if is_out_of_memory(e):
                    raise TrainingError(
                        f"out of memory on {device} at batch size {config.batch_size} and size "
                        f"{config.size}; try --batch-size {max(1, config.batch_size // 2)} or a "
                        f"smaller --size (the best checkpoint so far is kept in {out})"
                    ) from e
                raise
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"the loss became {value} at epoch {epoch}; lower --lr (now {config.lr})"
                )
            loss_sum += value * len(x)
            seen += len(x)
            if on_batch:
                on_batch(i + 1, n_batches, value)
            if dist.any_rank(should_stop(), ctx):
                stopped = True
                break
        train_loss = dist.mean_over_ranks(loss_sum, seen, ctx)
        val = _validate(
            ddp_model,
            loader_val,
            loss_fn,
            spec.classes,
            spec.out_classes,
            device,
            amp_dtype,
            weighted,
            ctx,
        )
        if not stopped:
            scheduler.step()
        seconds = time.perf_counter() - t0
        epoch_times.append(seconds)
        # without validation images every epoch is the newest best guess
        is_best = val["iou"] > best_iou or not pairs_val
        if is_best:
            best_iou, best_epoch = val["iou"], epoch
        remaining = 0 if stopped else config.epochs - epoch
        metrics = EpochMetrics(
            epoch=epoch,
            epochs=config.epochs,
            train_loss=train_loss,
            val_loss=val["loss"],
            val_iou=val["iou"],
            val_dice=val["dice"],
            lr=optimizer.param_groups[0]["lr"],
            seconds=seconds,
            eta_seconds=float(np.mean(epoch_times[-3:])) * remaining,
            images_per_second=seen * ctx.world_size / max(seconds, 1e-9),
            best_epoch=best_epoch,
            best_iou=best_iou,
            stopped=stopped,
        )
        history.append(metrics.to_dict())
        early = epoch - best_epoch >= config.patience
        if ctx.is_main:
            summary = {"best_epoch": best_epoch, "best_val_iou": best_iou, "epoch": epoch}
            if is_best:
                save_checkpoint(
                    out,
                    model,
                    spec,
                    meta
                    | {
                        "metrics": summary
                        | {"val_iou": val["iou"], "val_dice": val["dice"], "val_loss": val["loss"]},
                        "created": _now(),
                    },
                )
            _write_metrics_csv(out, history)
            _save_last(
                out, model, spec, optimizer, scheduler, meta, epoch, best_iou, best_epoch, history
            )
            if writer:
                for key in ("train_loss", "val_loss", "val_iou", "val_dice", "lr"):
                    writer.add_scalar(key, getattr(metrics, key), epoch)
                writer.flush()
        if ctx.world_size > 1:
            metrics.extra["param_checksums"] = dist.gather_checksums(model, ctx)
            if ctx.is_main:
                _record_rank_agreement(out, metrics.extra["param_checksums"])
        yield metrics
        if stopped or early:
            if early and ctx.is_main:
                log.info("early stop: no better val IoU for %d epochs", config.patience)
            break
    if writer:
        writer.close()


@torch.no_grad()
def _validate(model, loader, loss_fn, classes, out_classes, device, amp_dtype, weighted, ctx):
    model.eval()
    metrics = SegMetrics(out_classes)
    loss_sum, seen = 0.0, 0
    for x, y, w in loader:
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        logits = logits.float()
        loss_sum += float(loss_fn(logits, y, w.to(device) if weighted else None)) * len(x)
        seen += len(x)
        metrics.update(labels_from_logits(logits).cpu().numpy(), y.cpu().numpy())
    dist.reduce_metrics(metrics, ctx)
    result = metrics.compute()
    result["loss"] = dist.mean_over_ranks(loss_sum, seen, ctx)
    return result


def _tensorboard(logdir: str | None):
    if not logdir:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise TrainingError(
            "--tensorboard needs the tensorboard package: pip install 'segapp[tensorboard]'"
        ) from e
    return SummaryWriter(logdir)


def _write_metrics_csv(out: Path, history: list[dict]) -> None:
    keys = [
        "epoch",
        "train_loss",
        "val_loss",
        "val_iou",
        "val_dice",
        "lr",
        "seconds",
        "images_per_second",
    ]
    lines = [",".join(keys)] + [",".join(str(h[k]) for k in keys) for h in history]
    write_bytes_atomic(out / "metrics.csv", ("\n".join(lines) + "\n").encode())


def _save_last(out, model, spec, optimizer, scheduler, meta, epoch, best_iou, best_epoch, history):
    last = out / "last"
    opt_meta = save_optimizer(last / "optimizer.safetensors", optimizer)
    state = {
        "epoch": epoch,
        "best_iou": best_iou,
        "best_epoch": best_epoch,
        "history": history,
        "optimizer": opt_meta,
        "scheduler": scheduler.state_dict(),
    }
    save_checkpoint(last, model, spec, meta | {"state": state, "created": _now()})


def _resume(out: Path, model, optimizer, scheduler):
    from segapp.ml.checkpoint import load_weights

    last = out / "last"
    state = read_config(last)["state"]
    load_weights(model, last / "model.safetensors")
    load_optimizer(last / "optimizer.safetensors", optimizer, state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state["epoch"] + 1, state["best_iou"], state["best_epoch"], state["history"]


def _record_rank_agreement(out: Path, checksums: list[float]) -> None:
    import json

    path = out / "ranks.json"
    write_bytes_atomic(path, json.dumps({"param_checksums": checksums}).encode())


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
