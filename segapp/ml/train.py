"""Training: ``train(config, should_stop)`` is a plain generator of per-epoch metrics.

The CLI, the window (through the CLI in a separate process) and the tests all use it.
Under ``torchrun`` it runs DistributedDataParallel (NCCL on GPUs, gloo on CPUs): each rank
trains on its shard, validation counts are summed over ranks, rank 0 writes checkpoints.

Output folder layout: the best checkpoint by validation IoU (``config.json``,
``model.safetensors``, ``metrics.csv``) and ``last/`` (latest weights + optimizer state)
for ``--resume``.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from segapp.ml import distributed as dist
from segapp.ml import recipe, semi
from segapp.ml.click_training import empty_clicks, with_clicks
from segapp.ml.device import is_out_of_memory
from segapp.ml.finetune import channels_last
from segapp.ml.metrics import SegMetrics, labels_from_logits
from segapp.ml.round_budget import RoundBudget
from segapp.ml.train_config import EpochMetrics, TrainConfig, TrainingError
from segapp.ml.train_io import EpochSaver, record_rank_agreement, resume
from segapp.ml.train_setup import Run, prepare

__all__ = ["EpochMetrics", "TrainConfig", "TrainingError", "train"]

log = logging.getLogger(__name__)


# (batch, batches of the epoch, loss, steps done in the run, steps the run takes as planned
# now: the time budget may lower it)
BatchCallback = Callable[[int, int, float, int, int], None]


def train(
    config: TrainConfig,
    should_stop: Callable[[], bool] | None = None,
    on_batch: BatchCallback | None = None,
    started_at: float | None = None,
) -> Iterator[EpochMetrics]:
    """Train and yield metrics after each epoch; ``should_stop()`` ends early, gracefully.

    ``started_at`` (a ``time.perf_counter()`` reading, default: now) is when the round
    began; the time budget counts from it, so the CLI passes its process's start and the
    budget holds the whole round, loading included."""
    should_stop = should_stop or (lambda: False)
    started_at = time.perf_counter() if started_at is None else started_at
    ctx = dist.setup(config.device)
    try:
        yield from _train(config, ctx, should_stop, on_batch, started_at)
        dist.finish(ctx)
    finally:
        dist.teardown(ctx)


def _setup_out_of_memory(device: torch.device) -> str:
    """What to do when the network does not even fit: on a GPU, what other programs left."""
    said = f"out of memory on {device} while setting up the network"
    if device.type == "cuda":
        try:
            free, total = torch.cuda.mem_get_info(device)
            said += f" ({free / 2**20:.0f} MiB free of {total / 2**20:.0f}: other programs hold it)"
        except RuntimeError:  # the driver cannot tell: the advice stands
            pass
        return f"{said}; close them, or train on the CPU (--device cpu, the Train panel's Device)"
    return f"{said}; close other programs, or train a smaller --size"


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, rank: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed % 2**63, rank, epoch]).generate_state(1)[0])


@dataclass
class _Progress:
    """Where a run stands between epochs."""

    plan: recipe.Schedule  # the steps planned (the time budget takes what fits of them)
    clock: RoundBudget
    trusted: bool  # enough validation images to pick the best epoch
    start_epoch: int = 1
    best_iou: float = -1.0
    best_epoch: int = 0
    history: list = field(default_factory=list)
    epoch_times: list = field(default_factory=list)  # training and validation, per epoch
    schedule: recipe.Schedule | None = None  # the steps that fit (the plan until cut)
    said_epochs: int = 0  # the epochs the log last said the budget fits
    warmup: int = 0  # the planned warm-up steps (the budget may shorten it)
    steps_done: int = 0  # optimizer steps taken in the run (a resumed one's before it too)

    def __post_init__(self) -> None:
        self.schedule = self.schedule or self.plan
        self.warmup = self.warmup or self.plan.warmup_steps

    def batch_done(self, epoch: int, on_batch: BatchCallback | None):
        """The callback of epoch ``epoch``'s steps: counts them, then tells ``on_batch``."""

        def done(batch: int, batches: int, loss: float) -> None:
            self.steps_done = (epoch - 1) * self.plan.steps_per_epoch + batch
            if on_batch:
                on_batch(batch, batches, loss, self.steps_done, self.schedule.total_steps)

        return done


def _train(
    config: TrainConfig, ctx: dist.Context, should_stop, on_batch, started_at: float
) -> Iterator[EpochMetrics]:
    _seed_everything(config.seed + ctx.rank)
    out = Path(config.out)
    try:
        run = prepare(config, ctx)
    except Exception as e:
        if is_out_of_memory(e):
            raise TrainingError(_setup_out_of_memory(ctx.device)) from e
        raise
    state = _start(config, run, out, ctx, started_at)
    writer = _tensorboard(config.tensorboard) if ctx.is_main else None
    saver = EpochSaver(out) if ctx.is_main else None
    try:
        yield from _epochs(config, ctx, should_stop, on_batch, run, state, writer, saver)
    except BaseException:  # a failure, Ctrl+C twice, or the caller closing the generator
        if saver:
            _flush_after_failure(saver, run)
        raise
    finally:
        if writer:
            writer.close()


def _flush_after_failure(saver: EpochSaver, run: Run) -> None:
    """Write the chosen checkpoint that waits in memory; a second failure here (a full
    disk) is said, not raised over the first."""
    try:
        saver.flush(run)
    except Exception as e:
        log.error("could not write the checkpoint chosen so far: %s", e)


def _epochs(config, ctx, should_stop, on_batch, run: Run, state, writer, saver):
    """The epochs of a prepared run, each yielding its metrics once written."""
    out = Path(config.out)
    epoch = state.start_epoch
    while epoch <= state.schedule.epochs:
        # an epoch's draws (order, augmentation, dropout) follow from (seed, rank, epoch)
        # alone, so a resumed run goes on as the uninterrupted one would have
        _seed_everything(_epoch_seed(config.seed, ctx.rank, epoch))
        t0 = time.perf_counter()
        if epoch > state.start_epoch:  # the last one's end: validation, checkpoint, metrics
            state.clock.epoch_done()
        state.clock.epoch_begins()
        train_loss, seen, stopped = _train_epoch(
            run,
            config,
            ctx,
            epoch,
            should_stop,
            state.batch_done(epoch, on_batch),
            state.schedule.steps_in_epoch(epoch),
            functools.partial(_fit, state, run, epoch, ctx=ctx),
        )
        val = _validate(run, ctx)
        seconds = time.perf_counter() - t0
        state.epoch_times.append(seconds)
        if not stopped:  # before the checkpoint, which records the epochs planned
            _fit(state, run, epoch, state.schedule.steps_in_epoch(epoch), ctx, epoch_end=True)
        # a trusted validation subset picks the best epoch; otherwise the newest is kept
        is_best = val["iou"] > state.best_iou or not state.trusted
        if is_best:
            state.best_iou, state.best_epoch = val["iou"], epoch
        metrics = _epoch_metrics(state, run, epoch, train_loss, val, seconds, seen, stopped, ctx)
        state.history.append(metrics.to_dict())
        early = state.trusted and epoch - state.best_epoch >= config.patience
        if saver:
            final = stopped or early or epoch >= state.schedule.epochs
            saver.epoch_done(
                run,
                metrics,
                val,
                is_best,
                state.history,
                state.schedule,
                state.trusted,
                writer,
                final,
            )
        if ctx.world_size > 1:
            metrics.extra["param_checksums"] = dist.gather_checksums(run.model, ctx)
            if ctx.is_main:
                record_rank_agreement(out, metrics.extra["param_checksums"])
        yield metrics
        if stopped or early:
            if early and ctx.is_main:
                log.info("early stop: no better val IoU for %d epochs", config.patience)
            break
        epoch += 1


def _start(
    config: TrainConfig, run: Run, out: Path, ctx: dist.Context, started_at: float
) -> _Progress:
    """The run's plan, its time budget and, with ``--resume``, where the last run stopped."""
    budget = (
        recipe.default_time_budget(len(run.pairs_train))
        if config.time_budget is None
        else config.time_budget
    )
    n_val = len(run.pairs_val)
    clock = RoundBudget(
        budget,
        started_at,
        recipe.finish_seconds(n_val),  # the window's check of the version too
        val_share=n_val / (3 * run.schedule.batch_size),  # a forward pass: a third of a step
    )
    # every rank holds all validation images, so all agree on this
    state = _Progress(run.schedule, clock, recipe.validation_trusted(n_val))
    loading = clock.epoch_started - started_at  # loading done: the first epoch begins
    if config.resume and (out / "last" / "config.json").exists():
        state.start_epoch, state.best_iou, state.best_epoch, state.history, epochs = resume(
            out, run.model, run.optimizer, run.scheduler
        )
        if config.epochs is None:  # the plan the run had (its budget may have cut it)
            state.plan = state.schedule = state.plan.with_steps(
                min(run.lr_plan.total, state.plan.with_epochs(epochs).total_steps)
            )
        run.lr_plan.total = state.schedule.total_steps
        state.warmup = run.lr_plan.warmup  # as the first attempt planned it
        state.steps_done = (state.start_epoch - 1) * state.plan.steps_per_epoch
        log.info(
            "resuming at epoch %d (best IoU %.4f at epoch %d)",
            state.start_epoch,
            state.best_iou,
            state.best_epoch,
        )
    elif config.resume and ctx.is_main:  # said, not silent (a first torchrun attempt lands here)
        log.warning(
            "nothing to resume in %s (no checkpoint of an earlier run): from the start",
            out / "last",
        )
    if ctx.is_main:
        log.info(
            "plan: %s%s; time budget %s; validation on %d images%s",
            state.schedule.describe(),
            f", {run.amp_dtype} autocast" if run.amp_dtype is not None else "",
            f"{budget:.0f} s ({loading:.1f} s gone in loading)" if budget > 0 else "none",
            len(run.pairs_val),
            ""
            if state.trusted
            else f" (fewer than {recipe.MIN_VAL_IMAGES}: the last epoch is kept)",
        )
    return state


def _fit(
    state: _Progress, run: Run, epoch: int, done: int, ctx: dist.Context, epoch_end: bool = False
) -> int:
    """Plan again the steps that fit the time budget (all ranks agree), ``done`` steps into
    epoch ``epoch``, and lay the learning-rate schedule over them: the steps this epoch
    takes. At an epoch's end the log says when the budget changed the epochs planned."""
    if not epoch_end:
        state.clock.step_done()
    if state.clock.budget <= 0:
        return state.schedule.steps_in_epoch(epoch)
    steps_done = (epoch - 1) * state.plan.steps_per_epoch + done
    fit = int(dist.min_over_ranks(state.clock.steps_that_fit(state.plan, steps_done), ctx))
    if fit != state.schedule.total_steps:
        state.schedule = state.plan.with_steps(fit)
        run.lr_plan.total, run.lr_plan.warmup = fit, recipe.warmup_within(state.warmup, fit)
    said = state.said_epochs or state.plan.epochs
    if epoch_end and ctx.is_main and state.schedule.epochs != said:
        state.said_epochs = state.schedule.epochs
        log.info(
            "time budget %.0f s: %s instead of %d steps",
            state.clock.budget,
            state.schedule.describe(),
            state.plan.total_steps,
        )
    return state.schedule.steps_in_epoch(epoch)


def _epoch_metrics(
    state: _Progress, run: Run, epoch: int, train_loss, val, seconds, seen, stopped, ctx
) -> EpochMetrics:
    sched = state.schedule  # epochs still to come, the last maybe cut short (a fraction)
    left = sched.total_steps - min(sched.total_steps, epoch * sched.steps_per_epoch)
    remaining = 0 if stopped else left / sched.steps_per_epoch
    return EpochMetrics(
        epoch=epoch,
        epochs=state.schedule.epochs,
        train_loss=train_loss,
        val_loss=val["loss"],
        val_iou=val["iou"],
        val_dice=val["dice"],
        lr=run.optimizer.param_groups[-1]["lr"],
        seconds=seconds,
        eta_seconds=float(np.mean(state.epoch_times[-3:])) * remaining,
        images_per_second=seen * ctx.world_size / max(seconds, 1e-9),
        best_epoch=state.best_epoch,
        best_iou=state.best_iou,
        stopped=stopped,
        extra={
            "val_images": len(run.pairs_val),
            "val_trusted": state.trusted,
            "steps_done": state.steps_done,
            "steps": sched.total_steps,  # as the time budget cut them
            "steps_planned": state.plan.total_steps,
        },
    )


def _train_epoch(
    run: Run, config: TrainConfig, ctx, epoch: int, should_stop, on_batch, steps: int, fit
):
    """``steps`` steps over the training loader: (mean loss, images seen, stopped);
    ``fit(done)`` says after each step how many the epoch takes (the time budget may cut
    it)."""
    device = ctx.device
    nhwc = channels_last(device)
    dist.set_epoch(run.loader_train, epoch)
    run.ddp_model.train()
    for m in run.frozen_bn:
        m.eval()
    loss_sum, seen, stopped = 0.0, 0, False
    n_batches = min(len(run.loader_train), steps)
    clicks_rng = np.random.default_rng(torch.randint(2**31, ()).item())
    for i, (x, y, w) in enumerate(run.loader_train):
        if i >= n_batches:
            break
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if run.spec.click_channels:
            x = with_clicks(run.model, x, y, config.clicks, clicks_rng, run.frozen_bn)
        if nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        w = w.to(device) if run.weighted else None
        try:
            with torch.autocast(
                device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None
            ):
                loss, total = _step_loss(run, x, y, w, nhwc)
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
        n_batches = min(n_batches, fit(i + 1))
        if on_batch:
            on_batch(i + 1, n_batches, value)
        if dist.any_rank(should_stop(), ctx):
            stopped = True
            break
        if i + 1 >= n_batches:  # the epoch's last step: load no batch it will not take
            break
    return dist.mean_over_ranks(loss_sum, seen, ctx), seen, stopped


def _step_loss(run: Run, x, y, w, nhwc: bool):
    """(supervised loss, loss to minimise): with unlabeled images, the weak view's confident
    predictions (no gradient, eval mode) teach the strong view, in one forward pass."""
    weight = 0.0
    if run.unlabeled is not None:
        weight = semi.ramp(run.scheduler.last_epoch, run.lr_plan.total)
    if weight == 0:
        loss = run.loss_fn(run.ddp_model(x), y, w)
        return loss, loss
    xu = empty_clicks(next(run.unlabeled).to(x.device), run.spec.click_channels)
    if nhwc:
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


@torch.no_grad()
def _validate(run: Run, ctx: dist.Context) -> dict[str, float]:
    """Loss, IoU and Dice on the validation images (summed over ranks); NaN without any,
    never a zero that would read as a figure."""
    if not run.pairs_val:
        return {"iou": math.nan, "dice": math.nan, "loss": math.nan}
    device, amp_dtype = ctx.device, run.amp_dtype
    run.ddp_model.eval()
    metrics = SegMetrics(run.spec.out_classes)
    loss_sum, seen = 0.0, 0
    for x, y, w in run.loader_val:
        x, y = empty_clicks(x.to(device), run.spec.click_channels), y.to(device)
        if channels_last(device):
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = run.ddp_model(x)
        logits = logits.float()
        weights = w.to(device) if run.weighted else None
        loss_sum += float(run.loss_fn(logits, y, weights)) * len(x)
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
