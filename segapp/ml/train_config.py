"""What a training run is given (``TrainConfig``) and what it reports per epoch (``EpochMetrics``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from segapp.core.imageio import SegappError
from segapp.ml import recipe
from segapp.ml.registry import DEFAULT_PRESET


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
    resize_mode: str = "auto"  # resolved from the images by recipe.choose_resize_mode
    keep_aspect: bool = recipe.KEEP_ASPECT  # resize mode: letterbox, not squash (letterbox.py)
    augment: str = recipe.DEFAULT_AUGMENT
    copy_paste: float = recipe.COPY_PASTE  # share of views with a pasted object (resize mode)
    distractors: float = recipe.DISTRACTORS  # share with a scrambled object as background
    object_blur: float = recipe.OBJECT_BLUR  # share with the labelled objects out of focus
    # upright: training views mirrored left-right only; auto: from the masks (orientation.py)
    orientation: str = recipe.DEFAULT_ORIENTATION
    # turn: a fifth of the training views with their hue turned; auto: where colour does not
    # tell the classes apart (hue_views.py)
    hue: str = recipe.DEFAULT_HUE
    # the model's proposals refined by GrabCut where it is in doubt; auto: from the training
    # images (proposal_refine.py), kept in the checkpoint
    refine: str = recipe.DEFAULT_REFINE
    patience: int = 10
    workers: int | None = None  # data-loading processes; None: recipe.loader_workers
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
    freeze_encoder_stride: int = recipe.FREEZE_ENCODER_STRIDE  # 0: none frozen
    # images without masks to learn from; None: recipe.unlabeled_images decides; 0: off
    unlabeled: int | None = None
    clicks: float = recipe.CLICK_SHARE  # share of views trained to follow clicks; 0: off

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
        return {k: json_number(v) for k, v in d.items()}


def json_number(v: Any) -> Any:
    """A float rounded for JSON, NaN as null (plain JSON, readable by any tool)."""
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    return v
