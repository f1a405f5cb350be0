"""Setting up a training run: which images train and validate, the data loaders, the model,
the optimizer and the step schedule (``prepare`` -> ``Run``)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from segapp.core.image_size import image_sizes
from segapp.core.project import Project
from segapp.core.structure_scale import project_depth
from segapp.ml import distributed as dist
from segapp.ml import hue_views, orientation, proposal_refine, recipe, semi
from segapp.ml.checkpoint import load_model
from segapp.ml.click_stem import CLICK_CHANNELS, add_click_stem
from segapp.ml.data import DataError, SegDataset, load_pairs
from segapp.ml.device import autocast_dtype
from segapp.ml.finetune import (
    PlannedLR,
    frozen_batchnorms,
    param_groups,
    ready_for_training,
)
from segapp.ml.losses import make_loss
from segapp.ml.tiling import TrainTile, train_tile
from segapp.ml.train_config import TrainConfig, TrainingError

log = logging.getLogger(__name__)


def select_entries(project: Project, config: TrainConfig):
    """(train, validation, images without masks, proposals nobody corrected): the corrected
    images only; a mask segapp.json records as a proposal was never checked by anyone."""
    pool, unreviewed = project.reviewed()
    skipped = len(project.entries) - len(pool) - len(unreviewed)  # images without masks
    if config.images is not None:  # a chosen list: only its images without masks count
        wanted = set(config.images) | set(config.val_images or [])
        pool = [e for e in pool if e.stem in wanted]
        unreviewed = [e for e in unreviewed if e.stem in wanted]
        skipped = len(wanted & {e.stem for e in project.entries}) - len(pool) - len(unreviewed)
    if not project.entries:
        raise DataError(f"{project.images_dir}: no images (PNG/JPEG/TIFF/BMP) found")
    if not pool and unreviewed:
        raise DataError(
            f"{project.root}: the {len(unreviewed)} masks here are proposals nobody corrected "
            "(segapp.json says 'proposed'); check and save them in the window first"
        )
    if not pool and config.images is not None:
        listed = sorted(set(config.images) | set(config.val_images or []))
        shown = ", ".join(listed[:5]) + (", ..." if len(listed) > 5 else "")
        raise DataError(
            f"--images / --val-images: none of the {len(listed)} stems listed ({shown}) is "
            f"an image with a corrected mask in {project.root}"
        )
    if not pool:
        raise DataError(
            f"{project.root}: {len(project.entries)} images but none has a mask in "
            f"{project.masks_dir} (masks pair with images by file stem)"
        )
    for option, stems in (("--images", config.images), ("--val-images", config.val_images)):
        _warn_unknown(option, stems, pool)
    train_e, val_e = project.split(
        config.val_fraction, config.seed, pool, config.val_images or None
    )
    if not config.val_images:  # a subset given on purpose is kept, however small
        train_e, val_e = recipe.keep_validation(train_e, val_e)
    if not train_e:
        raise DataError("every labeled image is in the validation set; label more images")
    return train_e, val_e, skipped, len(unreviewed)


def _warn_unknown(option: str, stems: list[str] | None, pool: list) -> None:
    """Say which listed stems are not images with masks (a typo, a mask removed since)."""
    unknown = sorted(set(stems or []) - {e.stem for e in pool})
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        log.warning(
            "%d of the %d stems %s lists are not images with masks here, left out: %s",
            len(unknown),
            len(set(stems or [])),
            option,
            shown,
        )


@dataclass
class Run:
    """What the epochs of one run share (built by ``prepare``)."""

    model: torch.nn.Module
    ddp_model: torch.nn.Module
    spec: Any
    pairs_train: list
    pairs_val: list
    loader_train: Any
    loader_val: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    lr_plan: PlannedLR  # the time budget shortens a run through lr_plan.total
    schedule: recipe.Schedule
    loss_fn: Callable
    amp_dtype: Any
    scaler: Any
    weighted: bool
    frozen_bn: list
    meta: dict[str, Any]
    unlabeled: Iterator | None = None  # endless batches of unlabeled images (semi.py)


def prepare(config: TrainConfig, ctx: dist.Context) -> Run:
    """Data, model, optimizer and step schedule of a run."""
    device = ctx.device
    project = Project.open(config.data)
    classes = 1 if project.is_binary else project.num_classes
    train_e, val_e, skipped, unreviewed = select_entries(project, config)
    if ctx.is_main and skipped:
        log.info("skipped %d images without masks", skipped)
    if ctx.is_main and unreviewed:
        log.warning(
            "left out %d masks that are proposals nobody corrected (segapp.json says "
            "'proposed'); check and save them in the window to train on them",
            unreviewed,
        )
    if config.resize_mode == "auto":  # the checkpoint records the mode its images chose
        sizes = image_sizes(e.image_path for e in train_e + val_e)
        mode, by_masks = recipe.resolve_resize_mode(
            sizes, config.size, lambda: project_depth(project, train_e + val_e)
        )
        config = dataclasses.replace(config, resize_mode=mode)
        if ctx.is_main:
            note = recipe.describe_resize_mode(mode, sizes, config.size, by_masks)
            log.info("%s mode: %s", mode, note)

    overrides = {"encoder_weights": config.encoder_weights} if config.encoder_weights else {}
    loaded = load_model(config.model, "cpu", classes=classes, **overrides)
    spec = loaded.spec
    if spec.classes != classes:
        raise TrainingError(
            f"{config.model} predicts {spec.out_classes} classes but {config.data} has "
            f"{project.num_classes}; start from a preset instead"
        )
    model = loaded.model
    tile = train_tile(model, config.size)  # valid convolutions: mirror-padded views
    if config.clicks > 0 and not spec.click_channels and spec.is_binary and not tile.margin:
        add_click_stem(model, spec.in_channels, CLICK_CHANNELS)  # it learns to follow clicks
        spec = spec.replace(click_channels=CLICK_CHANNELS)

    size, mode, fit = tile.size, config.resize_mode, config.keep_aspect
    unusable: list[str] = []  # left out of the round, said, not fatal to it
    pairs_train = load_pairs(
        project, train_e, spec.in_channels, size, mode, keep_aspect=fit, unusable=unusable
    )
    pairs_val = load_pairs(
        project, val_e, spec.in_channels, size, mode, keep_aspect=fit, unusable=unusable
    )
    if ctx.is_main:
        for reason in unusable:
            log.warning("left out of this round: %s", reason)
    if not pairs_train:
        raise DataError(f"no usable training image: {unusable[0] if unusable else 'none'}")
    if ctx.is_main and project.rescaled_masks:
        scaled = sorted(project.rescaled_masks)
        log.info(
            "%d masks were scaled to their image's size (same aspect ratio, other resolution): %s",
            len(scaled),
            ", ".join(scaled[:5]) + (f" and {len(scaled) - 5} more" if len(scaled) > 5 else ""),
        )
    schedule = recipe.plan_schedule(
        len(pairs_train),
        config.batch_size,
        config.epochs,
        config.repeats,
        config.steps,
        accelerator=ctx.device.type != "cpu",
    )
    if ctx.world_size > 1:  # each rank takes its share of every epoch
        schedule = dataclasses.replace(
            schedule, steps_per_epoch=max(1, schedule.steps_per_epoch // ctx.world_size)
        )
    weighted = config.loss == "weighted-ce"
    masks = [p.labels for p in pairs_train + pairs_val]
    views = orientation.decide(config.orientation, masks)
    images = [p.image for p in pairs_train + pairs_val]
    refinement = proposal_refine.decide(config.refine, spec.is_binary, mode, images, masks)
    foreground = range(1, max(2, project.num_classes))
    continuing = bool(loaded.config)  # from a trained version, not a preset's new decoder
    hue = hue_views.decide(config.hue, images, masks, foreground, continuing)
    if ctx.is_main:
        log.info("%s", views.describe())
        log.info("%s", hue.describe())
        log.info("%s", refinement.describe())
    loader_train, loader_val = _loaders(
        config, ctx, spec, pairs_train, pairs_val, tile, schedule, weighted, views.upright, hue.turn
    )
    amp_dtype = autocast_dtype(device, config.amp)
    model, frozen_params = ready_for_training(
        model, spec, device, config.freeze_encoder_stride, amp_dtype
    )
    optimizer = torch.optim.AdamW(
        param_groups(model, config.lr, config.encoder_lr_scale), weight_decay=1e-4
    )
    lr_plan = PlannedLR(schedule.total_steps, schedule.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_plan)
    meta = {
        "train": config.to_dict(),
        "base_model": config.model,
        "images": [p.stem for p in pairs_train],
        "val_images": [p.stem for p in pairs_val],
        "skipped_without_mask": skipped,
        "skipped_proposed": unreviewed,  # masks nobody corrected
        "rescaled_masks": len(project.rescaled_masks),
        "left_out": unusable,  # pairs that could not be used, and why
        "world_size": ctx.world_size,
        "schedule": dataclasses.asdict(schedule),
        "frozen_parameters": frozen_params,
        "loader_workers": loader_train.num_workers,
        "views": views.describe(),
        "hue_views": hue.describe(),
        "proposals": refinement.to_config(),
    }
    frozen = frozen_batchnorms(model, spec) if config.freeze_encoder_bn else []
    # a trained version's confident pixels teach; a fresh decoder's would be noise
    n_unlabeled = recipe.unlabeled_images(config.unlabeled, continuing=continuing)
    unlabeled = unlabeled_batches(
        project, config, spec, tile, pairs_train + pairs_val, schedule, views.upright, n_unlabeled
    )
    meta["unlabeled_images"] = unlabeled[1]
    return Run(
        model=model,
        ddp_model=ctx.wrap(model),
        spec=spec,
        pairs_train=pairs_train,
        pairs_val=pairs_val,
        loader_train=loader_train,
        loader_val=loader_val,
        optimizer=optimizer,
        scheduler=scheduler,
        lr_plan=lr_plan,
        schedule=schedule,
        loss_fn=make_loss(config.loss, spec.classes),
        amp_dtype=amp_dtype,
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        weighted=weighted,
        frozen_bn=frozen,
        meta=meta,
        unlabeled=unlabeled[0],
    )


def _loaders(
    config: TrainConfig,
    ctx,
    spec,
    pairs_train,
    pairs_val,
    tile,
    schedule,
    weighted,
    upright,
    hue_turn,
):
    """(training loader: augmented, repeated, copy-paste; validation loader: as is)."""
    in_size, out_size = tile.input, tile.output
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
        copy_paste=config.copy_paste,
        size=tile.size,
        distractors=recipe.distractor_share(config.distractors, len(pairs_train)),
        object_blur=recipe.object_blur_share(config.object_blur, len(pairs_train)),
        upright=upright,
        hue_turn=hue_turn,
    )
    ds_val = SegDataset(
        pairs_val,
        spec,
        in_size,
        out_size,
        "none",
        config.resize_mode,
        False,
        weighted,
        size=tile.size,
    )
    batch = schedule.batch_size
    workers = _loader_workers(config, ctx, spec, in_size, out_size, batch, weighted)
    val_workers = workers if len(ds_val) else 0
    return (
        dist.loader(ds_train, batch, True, workers, ctx, config.seed),
        dist.loader(ds_val, batch, False, val_workers, ctx, config.seed),
    )


def _loader_workers(config: TrainConfig, ctx, spec, in_size, out_size, batch, weighted) -> int:
    """``recipe.loader_workers`` for this machine; said when shared memory limits them."""
    cpus = os.cpu_count() or 1
    view = spec.in_channels * in_size * in_size * 4 + out_size * out_size * (12 if weighted else 8)
    shm = dist.shared_memory_free()
    workers = recipe.loader_workers(
        config.workers, ctx.device.type, cpus, ctx.world_size, batch * view, shm
    )
    wanted = recipe.loader_workers(config.workers, ctx.device.type, cpus, ctx.world_size)
    if workers < wanted and ctx.is_main:
        log.warning(
            "data-loading processes: %d instead of %d: /dev/shm, where they hand batches over, "
            "has %.0f MB free (in a Docker container, --shm-size raises it)",
            workers,
            wanted,
            (shm or 0) / 2**20,
        )
    return workers


def unlabeled_batches(
    project,
    config: TrainConfig,
    spec,
    tile: TrainTile,
    pairs,
    schedule,
    upright: bool,
    limit: int,
):
    """(endless batches of up to ``limit`` unlabeled images, their count), or (None, 0) when
    off."""
    if limit <= 0:
        return None, 0
    if config.resize_mode != "resize":
        if config.unlabeled:  # asked for, not the recipe's default
            log.warning("learning from unlabeled images needs --resize-mode resize; skipped")
        return None, 0
    exclude = {p.stem for p in pairs}
    entries = semi.unlabeled_entries(project, exclude, limit, config.seed)
    images = semi.load_unlabeled(
        project, entries, spec.in_channels, tile.size, keep_aspect=config.keep_aspect
    )
    images = [tile.pad_view(img) for img in images]  # valid convolutions: as labelled views
    if not recipe.unlabeled_used(len(images), schedule.batch_size, config.resize_mode):
        log.info("%d unlabeled images: too few to learn from", len(images))
        return None, 0
    batch = max(1, schedule.batch_size // 2)
    loader = torch.utils.data.DataLoader(
        semi.UnlabeledDataset(images, spec, upright), batch_size=batch, shuffle=True, drop_last=True
    )
    log.info("learning from %d unlabeled images too (confident pseudo-labels)", len(images))
    return semi.endless(loader), len(images)
