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
from segapp.ml import recipe
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
    epochs: int | None = None  # None: planned from the image count (segapp.ml.recipe)
    size: int = recipe.DEFAULT_SIZE
    batch_size: int | None = None  # None: from the image count
    lr: float = recipe.DEFAULT_LR
    loss: str = "bce-dice"
    val_fraction: float = recipe.VAL_FRACTION
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    resize_mode: str = "resize"
    augment: str = recipe.DEFAULT_AUGMENT
    patience: int = 10
    workers: int = 0
    amp: bool = True
    encoder_weights: str | None = None
    tensorboard: str | None = None
    images: list[str] | None = None  # restrict training to these stems (the window: corrected)
    val_images: list[str] | None = None  # a fixed validation subset
    repeats: int | None = None  # passes over the training images per epoch (None: planned)
    steps: int | None = None  # optimizer steps (None: planned from the image count)
    time_budget: float | None = None  # seconds (None: recipe.default_time_budget; 0: none)
    # a pretrained encoder learns this much slower than the decoder
    encoder_lr_scale: float = recipe.ENCODER_LR_SCALE
    freeze_encoder_bn: bool = True  # keep a pretrained encoder's BatchNorm statistics
    freeze_encoder_stride: int = 4  # freeze a pretrained encoder's layers up to this stride
    unlabeled: int = recipe.UNLABELED_IMAGES  # images without masks to learn from; 0: off

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
        """Plain JSON: floats rounded, a figure without validation images is null (not NaN)."""
        d = dataclasses.asdict(self)
        d.update(d.pop("extra"))
        return {k: _json_number(v) for k, v in d.items()}


def _json_number(v: Any) -> Any:
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    return v


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
    if not config.val_images and not recipe.validation_trusted(len(val_e)):
        # too few to choose an epoch on: they teach more as training images
        train_e, val_e = pool, []
    if not train_e:
        raise DataError("every labeled image is in the validation set; label more images")
    return train_e, val_e, skipped


@dataclass
class _Run:
    """What the epochs of one run share (built by ``_prepare``)."""

    model: torch.nn.Module
    ddp_model: torch.nn.Module
    spec: Any
    pairs_train: list
    pairs_val: list
    loader_train: Any
    loader_val: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    schedule: recipe.Schedule
    loss_fn: Callable
    amp_dtype: Any
    scaler: Any
    weighted: bool
    frozen_bn: list
    meta: dict[str, Any]
    unlabeled: Iterator | None = None  # endless batches of unlabeled images (semi.py)


def _prepare(config: TrainConfig, ctx: dist.Context) -> _Run:
    """Data, model, optimizer and step schedule of a run."""
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
    schedule = recipe.plan_schedule(
        len(pairs_train), config.batch_size, config.epochs, config.repeats, config.steps
    )
    if ctx.world_size > 1:  # each rank takes its share of every epoch
        schedule = dataclasses.replace(
            schedule, steps_per_epoch=max(1, schedule.steps_per_epoch // ctx.world_size)
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
        schedule.repeats,
    )
    ds_val = SegDataset(
        pairs_val, spec, in_size, out_size, "none", config.resize_mode, False, weighted
    )
    loader_train = dist.loader(
        ds_train, schedule.batch_size, True, config.workers, ctx, config.seed
    )
    loader_val = dist.loader(ds_val, schedule.batch_size, False, config.workers, ctx, config.seed)

    if _channels_last(device):
        model = model.to(memory_format=torch.channels_last)
    model = model.to(device)
    frozen_params = (
        freeze_early_layers(model, spec, config.freeze_encoder_stride)
        if config.freeze_encoder_stride
        else 0
    )
    optimizer = torch.optim.AdamW(
        _param_groups(model, config.lr, config.encoder_lr_scale), weight_decay=1e-4
    )
    plan = {"total": schedule.total_steps, "warmup": schedule.warmup_steps}
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: recipe.lr_factor(step, plan["total"], plan["warmup"])
    )
    scheduler.plan = plan  # the budget shortens a run by changing plan["total"]
    amp_dtype = None
    if device.type == "cuda" and config.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    meta = {
        "train": config.to_dict(),
        "base_model": config.model,
        "images": [p.stem for p in pairs_train],
        "val_images": [p.stem for p in pairs_val],
        "skipped_without_mask": skipped,
        "rescaled_masks": len(project.rescaled_masks),
        "world_size": ctx.world_size,
        "schedule": dataclasses.asdict(schedule),
        "frozen_parameters": frozen_params,
    }
    frozen = _frozen_batchnorms(model, spec) if config.freeze_encoder_bn else []
    unlabeled = _unlabeled_batches(
        project, config, spec, in_size, pairs_train + pairs_val, schedule
    )
    meta["unlabeled_images"] = unlabeled[1]
    return _Run(
        model=model,
        ddp_model=ctx.wrap(model),
        spec=spec,
        pairs_train=pairs_train,
        pairs_val=pairs_val,
        loader_train=loader_train,
        loader_val=loader_val,
        optimizer=optimizer,
        scheduler=scheduler,
        schedule=schedule,
        loss_fn=make_loss(config.loss, spec.classes),
        amp_dtype=amp_dtype,
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        weighted=weighted,
        frozen_bn=frozen,
        meta=meta,
        unlabeled=unlabeled[0],
    )


def _unlabeled_batches(project, config: TrainConfig, spec, in_size: int, pairs, schedule):
    """(endless batches of unlabeled images, their count), or (None, 0) when off."""
    if config.unlabeled <= 0:
        return None, 0
    if config.resize_mode != "resize":
        log.warning("learning from unlabeled images needs --resize-mode resize; skipped")
        return None, 0
    from segapp.ml import semi

    exclude = {p.stem for p in pairs}
    entries = semi.unlabeled_entries(project, exclude, config.unlabeled, config.seed)
    images = semi.load_unlabeled(project, entries, spec.in_channels, in_size)
    batch = max(1, schedule.batch_size // 2)
    if len(images) < batch:
        log.info("%d unlabeled images: too few to learn from", len(images))
        return None, 0
    loader = torch.utils.data.DataLoader(
        semi.UnlabeledDataset(images, spec), batch_size=batch, shuffle=True, drop_last=True
    )
    log.info("learning from %d unlabeled images too (confident pseudo-labels)", len(images))
    return semi.endless(loader), len(images)


def _param_groups(model: torch.nn.Module, lr: float, encoder_scale: float) -> list[dict]:
    """A pretrained encoder learns at ``lr * encoder_scale``, everything else at ``lr``."""
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, torch.nn.Module) or encoder_scale == 1:
        return [{"params": list(model.parameters()), "lr": lr}]
    enc_ids = {id(p) for p in encoder.parameters()}
    rest = [p for p in model.parameters() if id(p) not in enc_ids]
    trainable = [p for p in encoder.parameters() if p.requires_grad]
    return [{"params": trainable, "lr": lr * encoder_scale}, {"params": rest, "lr": lr}]


def _channels_last(device: torch.device) -> bool:
    """NHWC activations: faster convolutions on CUDA and on CPUs (oneDNN, ~1.5x measured)."""
    return device.type in ("cuda", "cpu")


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
            encoder(torch.zeros(1, spec.in_channels, side, side, device=param.device))
            encoder.train(was_training)
    finally:
        for h in hooks:
            h.remove()
    frozen = 0
    for module, stride in strides.items():
        if stride <= max_stride:
            for p in module.parameters(recurse=False):
                p.requires_grad_(False)
                frozen += 1
    return frozen


def _frozen_batchnorms(model: torch.nn.Module, spec) -> list[torch.nn.Module]:
    """The BatchNorm layers of a pretrained encoder, whose running statistics stay as they
    are (few images give noisy batch statistics; ImageNet's are a better estimate)."""
    encoder = getattr(model, "encoder", None)
    if not spec.encoder_weights or not isinstance(encoder, torch.nn.Module):
        return []
    return [m for m in encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def _train(config: TrainConfig, ctx: dist.Context, should_stop, on_batch) -> Iterator[EpochMetrics]:
    _seed_everything(config.seed + ctx.rank)
    t_start = time.perf_counter()
    out = Path(config.out)
    run = _prepare(config, ctx)
    schedule = run.schedule
    budget = (
        recipe.default_time_budget(len(run.pairs_train))
        if config.time_budget is None
        else config.time_budget
    )
    trusted = recipe.validation_trusted(len(run.pairs_val))  # every rank holds all of them
    start_epoch, best_iou, best_epoch, history = 1, -1.0, 0, []
    if config.resume and (out / "last" / "config.json").exists():
        start_epoch, best_iou, best_epoch, history, epochs = _resume(
            out, run.model, run.optimizer, run.scheduler
        )
        if config.epochs is None:  # the plan the run had (its budget may have cut it)
            schedule = schedule.with_epochs(epochs)
        run.scheduler.plan["total"] = schedule.total_steps
        log.info(
            "resuming at epoch %d (best IoU %.4f at epoch %d)", start_epoch, best_iou, best_epoch
        )
    if ctx.is_main:
        log.info(
            "plan: %s; time budget %s; validation on %d images%s",
            schedule.describe(),
            f"{budget:.0f} s" if budget > 0 else "none",
            len(run.pairs_val),
            "" if trusted else f" (fewer than {recipe.MIN_VAL_IMAGES}: the last epoch is kept)",
        )
    writer = _tensorboard(config.tensorboard) if ctx.is_main else None
    epoch_times: list[float] = []
    epoch = start_epoch
    while epoch <= schedule.epochs:
        t0 = time.perf_counter()
        train_loss, seen, stopped = _train_epoch(run, config, ctx, epoch, should_stop, on_batch)
        val = _validate(
            run.ddp_model,
            run.loader_val,
            run.loss_fn,
            run.spec.classes,
            run.spec.out_classes,
            ctx.device,
            run.amp_dtype,
            run.weighted,
            ctx,
        )
        if not run.pairs_val:  # nothing to validate on: no figure rather than a zero
            val = {"iou": math.nan, "dice": math.nan, "loss": math.nan}
        seconds = time.perf_counter() - t0
        epoch_times.append(seconds)
        if budget > 0 and not stopped:
            fit = recipe.epochs_within_budget(
                schedule, epoch, time.perf_counter() - t_start, float(np.mean(epoch_times)), budget
            )
            fit = int(dist.min_over_ranks(fit, ctx))
            if fit < schedule.epochs:
                if ctx.is_main:
                    log.info(
                        "time budget %.0f s: %d epochs instead of %d", budget, fit, schedule.epochs
                    )
                schedule = schedule.with_epochs(fit)
                run.scheduler.plan["total"] = schedule.total_steps
        # a trusted validation subset picks the best epoch; otherwise the newest is kept
        is_best = val["iou"] > best_iou or not trusted
        if is_best:
            best_iou, best_epoch = val["iou"], epoch
        remaining = 0 if stopped else schedule.epochs - epoch
        metrics = EpochMetrics(
            epoch=epoch,
            epochs=schedule.epochs,
            train_loss=train_loss,
            val_loss=val["loss"],
            val_iou=val["iou"],
            val_dice=val["dice"],
            lr=run.optimizer.param_groups[-1]["lr"],
            seconds=seconds,
            eta_seconds=float(np.mean(epoch_times[-3:])) * remaining,
            images_per_second=seen * ctx.world_size / max(seconds, 1e-9),
            best_epoch=best_epoch,
            best_iou=best_iou,
            stopped=stopped,
            extra={"val_images": len(run.pairs_val), "val_trusted": trusted},
        )
        history.append(metrics.to_dict())
        early = trusted and epoch - best_epoch >= config.patience
        if ctx.is_main:
            _save_epoch(out, run, metrics, val, is_best, history, schedule, trusted, writer)
        if ctx.world_size > 1:
            metrics.extra["param_checksums"] = dist.gather_checksums(run.model, ctx)
            if ctx.is_main:
                _record_rank_agreement(out, metrics.extra["param_checksums"])
        yield metrics
        if stopped or early:
            if early and ctx.is_main:
                log.info("early stop: no better val IoU for %d epochs", config.patience)
            break
        epoch += 1
    if writer:
        writer.close()


def _train_epoch(run: _Run, config: TrainConfig, ctx, epoch: int, should_stop, on_batch):
    """One pass over the training loader: (mean loss, images seen, stopped)."""
    device = ctx.device
    channels_last = _channels_last(device)
    dist.set_epoch(run.loader_train, epoch)
    run.ddp_model.train()
    for m in run.frozen_bn:
        m.eval()
    loss_sum, seen, stopped = 0.0, 0, False
    n_batches = min(len(run.loader_train), run.schedule.steps_per_epoch)
    for i, (x, y, w) in enumerate(run.loader_train):
        if i >= n_batches:
            break
        x = x.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        w = w.to(device) if run.weighted else None
        try:
            with torch.autocast(
                device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None
            ):
                loss, total = _step_loss(run, x, y, w, channels_last)
            run.optimizer.zero_grad(set_to_none=True)
            run.scaler.scale(total).backward()
            run.scaler.step(run.optimizer)
            run.scaler.update()
            run.scheduler.step()
        except Exception as e:
            if is_out_of_memory(e):
                raise TrainingError(
                    f"out of memory on {device} at batch size {run.schedule.batch_size} and "
                    f"size {config.size}; try --batch-size "
                    f"{max(1, run.schedule.batch_size // 2)} or a smaller --size (the best "
                    f"checkpoint so far is kept in {config.out})"
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
    return dist.mean_over_ranks(loss_sum, seen, ctx), seen, stopped


def _step_loss(run: _Run, x, y, w, channels_last: bool):
    """(supervised loss, loss to minimise): with unlabeled images, the weak view's confident
    predictions (no gradient, eval mode) teach the strong view, in one forward pass."""
    from segapp.ml import semi

    weight = 0.0
    if run.unlabeled is not None:
        weight = semi.ramp(run.scheduler.last_epoch, run.scheduler.plan["total"])
    if weight == 0:
        loss = run.loss_fn(run.ddp_model(x), y, w)
        return loss, loss
    xu = next(run.unlabeled).to(x.device)
    if channels_last:
        xu = xu.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        run.model.eval()
        teacher = run.model(xu)
        run.model.train()
        for m in run.frozen_bn:
            m.eval()
    logits = run.ddp_model(torch.cat([x, semi.strong_view(xu)]))
    loss = run.loss_fn(logits[: len(x)], y, w)
    unsup, _kept = semi.pseudo_label_loss(logits[len(x) :], teacher)
    return loss, loss + weight * unsup


def _save_epoch(out, run: _Run, metrics, val, is_best, history, schedule, trusted, writer):
    """Write the chosen checkpoint (when this epoch is it), metrics.csv and ``last/``."""
    if is_best:
        summary = {
            "best_epoch": metrics.best_epoch,
            "best_val_iou": _json_number(metrics.best_iou),
            "epoch": metrics.epoch,
            "val_iou": _json_number(val["iou"]),
            "val_dice": _json_number(val["dice"]),
            "val_loss": _json_number(val["loss"]),
            "val_images": len(run.pairs_val),
            "val_trusted": trusted,
        }
        save_checkpoint(
            out, run.model, run.spec, run.meta | {"metrics": summary, "created": _now()}
        )
    _write_metrics_csv(out, history)
    _save_last(
        out,
        run.model,
        run.spec,
        run.optimizer,
        run.scheduler,
        run.meta,
        metrics.epoch,
        metrics.best_iou,
        metrics.best_epoch,
        history,
        schedule.epochs,
    )
    if writer:
        for key in ("train_loss", "val_loss", "val_iou", "val_dice", "lr"):
            writer.add_scalar(key, getattr(metrics, key), metrics.epoch)
        writer.flush()


@torch.no_grad()
def _validate(model, loader, loss_fn, classes, out_classes, device, amp_dtype, weighted, ctx):
    model.eval()
    metrics = SegMetrics(out_classes)
    loss_sum, seen = 0.0, 0
    for x, y, w in loader:
        x, y = x.to(device), y.to(device)
        if _channels_last(device):
            x = x.contiguous(memory_format=torch.channels_last)
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
    rows = [["" if h[k] is None else str(h[k]) for k in keys] for h in history]
    lines = [",".join(keys)] + [",".join(row) for row in rows]
    write_bytes_atomic(out / "metrics.csv", ("\n".join(lines) + "\n").encode())


def _save_last(
    out, model, spec, optimizer, scheduler, meta, epoch, best_iou, best_epoch, history, epochs
):
    last = out / "last"
    opt_meta = save_optimizer(last / "optimizer.safetensors", optimizer)
    state = {
        "epoch": epoch,
        "best_iou": best_iou,
        "best_epoch": best_epoch,
        "history": history,
        "optimizer": opt_meta,
        "scheduler": scheduler.state_dict(),
        "planned_epochs": epochs,
    }
    save_checkpoint(last, model, spec, meta | {"state": state, "created": _now()})


def _resume(out: Path, model, optimizer, scheduler):
    from segapp.ml.checkpoint import load_weights

    last = out / "last"
    state = read_config(last)["state"]
    load_weights(model, last / "model.safetensors")
    load_optimizer(last / "optimizer.safetensors", optimizer, state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    epochs = int(state.get("planned_epochs") or 0) or None
    return (
        state["epoch"] + 1,
        state["best_iou"],
        state["best_epoch"],
        state["history"],
        epochs if epochs else len(state["history"]),
    )


def _record_rank_agreement(out: Path, checksums: list[float]) -> None:
    import json

    path = out / "ranks.json"
    write_bytes_atomic(path, json.dumps({"param_checksums": checksums}).encode())


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
