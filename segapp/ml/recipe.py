"""The training recipe: how many optimizer steps a round gets, in what batches, for how long.

A round is planned in optimizer steps and seconds, not epochs: the number of samples it
shows grows with the number of corrected images (``SAMPLES_PER_IMAGE`` each, within
``MIN_SAMPLES`` .. ``MAX_SAMPLES``), batch size and repeats follow from the count, and a
time budget (``default_time_budget``) caps the run on slow machines: after each step the
steps that still fit are planned again (``steps_within_budget``: the last epoch may be cut
short), and the learning-rate schedule (linear warm-up, then cosine decay to 1 %) is laid
over the steps actually planned, so a cut run still ends on a small learning rate.

Choosing the checkpoint: below ``MIN_VAL_IMAGES`` validation images the best-epoch choice
is noise, so the last epoch (the end of the decayed schedule) is kept and the validation
figure is reported as indicative only.

No torch here: the window plans and describes a round without importing it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_SIZE = 320
DEFAULT_LR = 1e-3
ENCODER_LR_SCALE = 0.1
FREEZE_ENCODER_STRIDE = 4  # a pretrained encoder's layers up to this stride stay frozen
DEFAULT_AUGMENT = "medium"
# training views of images with an up are mirrored left-right only (segapp.ml.orientation)
ORIENTATIONS = ("auto", "upright", "any")
DEFAULT_ORIENTATION = "auto"
# a fifth of the training views with their hue turned, where colour does not tell the
# classes apart (segapp.ml.hue_views)
HUE_SETTINGS = ("auto", "turn", "keep")
DEFAULT_HUE = "auto"
HUE_TURN_SHARE = 0.2
# a model's proposals refined by GrabCut where it is in doubt (segapp.ml.proposal_refine)
REFINE_METHODS = ("grabcut", "none")
REFINE_SETTINGS = ("auto", *REFINE_METHODS)
DEFAULT_REFINE = "auto"
# resize mode: letterbox whole images (ml.letterbox) instead of squashing them; off by default:
# in the scripted loop it did not pay (docs/first-rounds.md)
KEEP_ASPECT = False
COPY_PASTE = 0.5  # share of training views with another image's object pasted in
DISTRACTORS = 0.3  # share of training views with a scrambled object pasted as background
DISTRACTOR_IMAGES = 10  # ... up to this many training images, falling as 1/N beyond
OBJECT_BLUR = 0.2  # share of training views whose labelled objects are blurred (copy_paste)
OBJECT_BLUR_IMAGES = 40  # ... up to this many training images, falling as 1/N beyond
# share of training views given a previous mask and clicks (click_training); 0 = off: at
# the CPU's round budgets the model learnt to ignore clicks (docs/clicks.md)
CLICK_SHARE = 0.0
# images without masks learned from (segapp.ml.semi) when a round continues from a trained
# version (from ImageNet weights, in the first round, their pseudo-labels are noise and cost
# it). 0 = off: on the 2-core CPU their slower steps cost the 40-image round 3-4 of its 10
# epochs, and the loop gained in file order (0.709 against 0.693) what it lost in the
# suggested order (0.752 against 0.769) (docs/first-rounds.md)
UNLABELED_IMAGES = 0
# a round learning from them takes about this much longer for the same steps: from a fifth of
# the steps on, a step also takes half a batch of them (1.6x its time on the 2-core CPU)
UNLABELED_TIME_FACTOR = 1.5
DEFAULT_BATCH = 8  # at most, on a GPU
# at most on a CPU, where a round's time budget runs out of steps before it runs out of
# views: in the loop on the 2-core CPU, 40-image rounds of batch 2 scored 0.846, 0.841,
# 0.834 against 0.835, 0.835, 0.828 in batches of 8 (docs/first-rounds.md)
CPU_BATCH = 2
GPU_LOADER_WORKERS = 4  # data-loading processes a GPU round starts (loader_workers)
MIN_BATCH = 2
SAMPLES_PER_IMAGE = 48
MIN_SAMPLES = 480
MAX_SAMPLES = 12_000
MIN_EPOCH_SAMPLES = 64  # an epoch (one validation and one plot point) shows at least this many
WARMUP_FRACTION = 0.05
VAL_FRACTION = 0.2  # of the corrected images, once that is at least MIN_VAL_IMAGES
# fewer validation images than this: keep the last epoch, not the "best" (and no version
# comparison): at 8 held-out images (40 corrected) the choice was noise, and the loop's
# 40-image round scored higher training on all 40 (docs/first-rounds.md)
MIN_VAL_IMAGES = 10
FINAL_LR_FRACTION = 0.01
# what a round does after its last epoch: the checkpoint and the process's exit
FINISH_SECONDS = 3.0
# ... and, from MIN_VAL_IMAGES validation images on, the window's check scores both versions'
# proposals on each of them (mirrored passes, closer looks, GrabCut): 15 s for 32 images
# after the loop's 160-image round on the 2-core CPU
CHECK_SECONDS_PER_IMAGE = 0.5
# ... in a process of its own (segapp.ml.jobs), whose start (Python, torch, both versions'
# networks) took 2.9 s on the 2-core CPU (benchmarks/bench_jobs.py: 6.7 s against 3.8 s in a
# process with torch loaded, 32 images)
CHECK_START_SECONDS = 3.0


@dataclass(frozen=True)
class Schedule:
    """What a round will do: ``epochs`` x ``steps_per_epoch`` steps of ``batch_size``, the
    last epoch ``last_epoch_steps`` long when the time budget cut it short (None: whole)."""

    images: int
    batch_size: int
    repeats: int
    epochs: int
    steps_per_epoch: int
    last_epoch_steps: int | None = None

    @property
    def total_steps(self) -> int:
        last = self.last_epoch_steps or self.steps_per_epoch
        return (self.epochs - 1) * self.steps_per_epoch + last

    @property
    def warmup_steps(self) -> int:
        return max(1, round(WARMUP_FRACTION * self.total_steps))

    @property
    def samples(self) -> int:
        return self.total_steps * self.batch_size

    def steps_in_epoch(self, epoch: int) -> int:
        """The steps epoch ``epoch`` (1-based) takes."""
        return (
            self.steps_per_epoch
            if epoch < self.epochs
            else self.total_steps - (self.epochs - 1) * self.steps_per_epoch
        )

    def with_epochs(self, epochs: int) -> Schedule:
        return self.with_steps(max(1, epochs) * self.steps_per_epoch)

    def with_steps(self, steps: int) -> Schedule:
        """The same epochs' length, ``steps`` in all (the last epoch cut short if need be)."""
        steps = max(1, steps)
        epochs = math.ceil(steps / self.steps_per_epoch)
        last = steps - (epochs - 1) * self.steps_per_epoch
        partial = last if last < self.steps_per_epoch else None
        return Schedule(
            self.images, self.batch_size, self.repeats, epochs, self.steps_per_epoch, partial
        )

    def describe(self) -> str:
        last = f", the last of {self.last_epoch_steps}" if self.last_epoch_steps else ""
        return (
            f"{self.total_steps} steps of {self.batch_size} images "
            f"({self.epochs} epochs x {self.steps_per_epoch} steps{last}, "
            f"{self.samples / max(1, self.images):.0f} views of each of {self.images} images)"
        )


def default_batch(images: int, accelerator: bool = False) -> int:
    """Half the images, at least ``MIN_BATCH``, at most ``DEFAULT_BATCH`` on an accelerator
    (a GPU) and ``CPU_BATCH`` on a CPU."""
    most = DEFAULT_BATCH if accelerator else CPU_BATCH
    return max(MIN_BATCH, min(most, images // 2))


def loader_workers(
    requested: int | None,
    device_type: str,
    cpus: int,
    ranks: int = 1,
    batch_bytes: int = 0,
    shm_free: int | None = None,
) -> int:
    """Data-loading processes: as ``requested``, else (auto) none on a CPU, where the training
    process's own threads use every core, and on a GPU up to ``GPU_LOADER_WORKERS`` of the
    cores this rank's share leaves beside the training process (decoding and augmenting a
    320 px view takes about 10 ms on one core: a batch of 8 in the training process alone
    would keep a GPU waiting most of each step). The processes hand their batches over in
    shared memory (``shm_free`` bytes free; None: not limited), each holding up to two of
    ``batch_bytes``: no more processes than fit in half of it (a Docker container's default
    64 MB holds one for batches of 8 views at 320 px; a process that finds it full dies of a
    bus error)."""
    if requested is not None:
        return requested
    if device_type != "cuda":
        return 0
    workers = max(0, min(GPU_LOADER_WORKERS, cpus // max(1, ranks) - 1))
    if shm_free is not None and batch_bytes > 0:
        workers = min(workers, shm_free // (4 * batch_bytes))
    return int(workers)


def plan_schedule(
    images: int,
    batch_size: int | None = None,
    epochs: int | None = None,
    repeats: int | None = None,
    steps: int | None = None,
    accelerator: bool = False,
) -> Schedule:
    """The schedule for ``images`` training images; any given value overrides the recipe.
    ``accelerator``: the run trains on a GPU (or another accelerator), not the CPU.

    ``epochs`` given: the classic schedule (``repeats`` passes per epoch, default 1);
    ``steps`` given: that many optimizer steps (in epochs of equal length: 37 steps of
    10-step epochs are 4 x 9); neither: the recipe's sample count.
    """
    if images < 1:
        raise ValueError("a round needs at least one training image")
    batch = batch_size or default_batch(images, accelerator)
    if repeats is None:
        repeats = 1 if epochs else max(1, math.ceil(MIN_EPOCH_SAMPLES / images))
    epoch_samples = images * repeats
    # a partial last batch is dropped when there is more than one batch (see distributed.loader)
    steps_per_epoch = max(1, epoch_samples // batch if epoch_samples > batch else 1)
    if epochs is None and steps is not None:  # asked for: that many, in epochs of equal length
        epochs = math.ceil(max(1, steps) / steps_per_epoch)
        steps_per_epoch = max(1, round(steps / epochs))  # no more than a full epoch's batches
    elif epochs is None:
        samples = min(MAX_SAMPLES, max(MIN_SAMPLES, SAMPLES_PER_IMAGE * images))
        epochs = max(1, round(math.ceil(samples / batch) / steps_per_epoch))
    return Schedule(images, batch, repeats, max(1, epochs), steps_per_epoch)


def default_time_budget(images: int) -> float:
    """Seconds a round on ``images`` training images (validation's not counted) may take by
    default: 2 min up to 40, then 5 s more per image, at most 15 min (what the first rounds
    of the loop must fit on a 2-core CPU)."""
    return float(min(900, 120 + 5 * max(0, images - 40)))


def finish_seconds(val_images: int) -> float:
    """Seconds a round keeps for what follows its last epoch: the checkpoint and the exit,
    and with ``MIN_VAL_IMAGES`` validation images or more the window's check of the new
    version against the active one on them."""
    if val_images < MIN_VAL_IMAGES:
        return FINISH_SECONDS
    return FINISH_SECONDS + CHECK_START_SECONDS + CHECK_SECONDS_PER_IMAGE * val_images


def steps_within_budget(
    plan: Schedule,
    steps_done: int,
    elapsed: float,
    step_seconds: float,
    epoch_overhead: float,
    budget: float,
    finish: float = FINISH_SECONDS,
) -> int:
    """The steps of ``plan`` that fit in ``budget`` seconds: ``step_seconds`` a step and
    ``epoch_overhead`` at each epoch's end (its validation and checkpoint), ``finish``
    seconds left over for the finish (``finish_seconds``). Never fewer than ``steps_done``;
    never more than the plan.

    ``steps_done`` in the middle of an epoch: that epoch's overhead is still to come; at an
    epoch's end: it is past (counted in ``elapsed``). ``elapsed`` counts from the round's
    start as a person sees it (the ``segapp train`` process's start: importing torch,
    building the model and reading the images too)."""
    total = plan.total_steps
    if budget <= 0 or step_seconds <= 0:
        return total
    left = budget - finish - elapsed
    per_epoch = plan.steps_per_epoch
    pos = steps_done
    while pos < total:
        epoch_end = min(total, (pos // per_epoch + 1) * per_epoch)
        need = (epoch_end - pos) * step_seconds + epoch_overhead
        if need > left:  # this epoch is the last, cut to the steps that fit before its end
            pos += max(0, int((left - epoch_overhead) / step_seconds))
            break
        left -= need
        pos = epoch_end
    return max(steps_done, min(total, pos))


def unlabeled_images(setting: int | None, continuing: bool) -> int:
    """How many images without masks a round learns from: ``setting`` when given, else
    ``UNLABELED_IMAGES`` when it continues from a trained version and none otherwise."""
    if setting is not None:
        return setting
    return UNLABELED_IMAGES if continuing else 0


def unlabeled_used(images: int, batch_size: int, resize_mode: str) -> int:
    """How many of ``images`` images without masks a run really learns from: none in
    ``crop`` mode, nor when there are too few for one unlabeled batch (half a batch)."""
    if resize_mode != "resize" or images < max(1, batch_size // 2):
        return 0
    return images


def unlabeled_planned(
    setting: int | None, continuing: bool, available: int, batch_size: int, resize_mode: str
) -> int:
    """How many of ``available`` images without masks a run with these settings will learn
    from (``unlabeled_images``'s choice, capped, then ``unlabeled_used``'s conditions)."""
    wanted = min(available, unlabeled_images(setting, continuing))
    return unlabeled_used(wanted, batch_size, resize_mode)


def warmup_within(warmup: int, steps: int) -> int:
    """The planned ``warmup`` steps of a run the time budget cut to ``steps``: as planned, but
    never over half the steps taken, so a run cut hard still decays its learning rate."""
    return min(warmup, max(1, steps // 2))


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based): linear
    warm-up over ``warmup`` steps, then cosine decay to ``FINAL_LR_FRACTION``."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress))


def fading_share(share: float, images: int, full_up_to: int) -> float:
    """``share`` while training on up to ``full_up_to`` images, then falling as 1/N: for
    augmentations that stand in for what a few corrected images lack, and cost a round once
    the corrected images show it themselves."""
    return share * min(1.0, full_up_to / max(1, images))


def distractor_share(distractors: float, images: int) -> float:
    """The share of views given a scrambled distractor when training on ``images`` images
    (fading beyond ``DISTRACTOR_IMAGES``). They stand in for the cluttered backgrounds a few
    corrected images lack; in the loop they lifted the 10-image round and cost the
    160-image one at a constant share (docs/first-rounds.md)."""
    return fading_share(distractors, images, DISTRACTOR_IMAGES)


def object_blur_share(object_blur: float, images: int) -> float:
    """The share of views whose objects are blurred when training on ``images`` images
    (fading beyond ``OBJECT_BLUR_IMAGES``). A few corrected portraits teach that sharpness
    means "person"; the blur takes that shortcut away, which lifted the loop's 10- and
    40-image rounds and cost its 160-image round at a constant share (docs/first-rounds.md)."""
    return fading_share(object_blur, images, OBJECT_BLUR_IMAGES)


def images_for_validation(val_fraction: float = VAL_FRACTION) -> int:
    """The fewest corrected images from which a validation subset is held out (38 at 20 %,
    as ``Project.split`` rounds)."""
    n = 1
    while int(round(n * val_fraction)) < MIN_VAL_IMAGES:
        n += 1
    return n


def validation_trusted(n_val: int) -> bool:
    """Whether a validation subset is large enough to choose the best epoch on."""
    return n_val >= MIN_VAL_IMAGES


def keep_validation(train: list, val: list) -> tuple[list, list]:
    """(train, val) as split, or (all, []) when ``val`` is too small to choose on: those
    images teach more as training images."""
    return (train, val) if validation_trusted(len(val)) else ([*train, *val], [])


def describe_split(n_train: int, n_val: int) -> str:
    """What the corrected images are used for, and how far the validation IoU can be trusted."""
    if n_val == 0:
        return (
            f"{n_train} corrected images, all to train on. A validation subset is kept apart "
            f"from {images_for_validation()} corrected images on; until then each run keeps "
            "its last epoch and becomes the active model (no validation IoU to compare)."
        )
    trust = "a rough guide" if n_val < 20 else "fair" if n_val < 50 else "reliable"
    return (
        f"{n_train + n_val} corrected images: {n_train} to train on, {n_val} to validate "
        f"(the best epoch is kept; a validation IoU on {n_val} images is {trust})."
    )


RESIZE_MODES = ("auto", "resize", "crop")
CROP_FROM_SHRINK = 3.0  # images shrunk more than this to the training size train on crops
# ... unless what their masks separate stays at least this deep (px) at the training size
MIN_RESIZED_DEPTH = 4.0
# images whose longer side is over this crop whatever their masks (aerial and slide scans:
# a mask of that size takes seconds to read, and no photo of whole objects is that large)
MAX_WHOLE_SIDE = 8192


def choose_resize_mode(
    image_sizes: list[tuple[int, int]], size: int = DEFAULT_SIZE, depth: float | None = None
) -> str:
    """``resize`` for photos of whole objects (seen, and proposed, at the training size);
    ``crop`` when the median image's shorter side is over ``CROP_FROM_SHRINK`` times the
    training size (microscopy, aerial, 4096² and up) and what the masks separate would not
    survive the resize: resizing would lose the detail, so the network trains on crops at
    native scale and proposes by overlap-tile.

    ``depth``: the corrected masks' ``core.structure_scale.project_depth`` in image pixels
    (None: not known, the size alone decides). A large photo of a person keeps a depth of
    ``MIN_RESIZED_DEPTH`` px or more at the training size and is resized whole, where a crop
    would show a patch of coat (a 10-image round on 12-megapixel portraits scored 0.11 in
    crops against 0.70 resized); membranes a few pixels thick at 4096² are not."""
    if not image_sizes:
        return "resize"
    shorter = _median_side(image_sizes, min)
    if shorter <= CROP_FROM_SHRINK * size:
        return "resize"
    longer = _median_side(image_sizes, max)
    if (
        depth is not None
        and longer <= MAX_WHOLE_SIDE
        and depth * size / longer >= MIN_RESIZED_DEPTH
    ):
        return "resize"
    return "crop"


def _median_side(image_sizes: list[tuple[int, int]], side: Callable[[int, int], int]) -> int:
    """The median image's shorter (``side=min``) or longer (``max``) side."""
    return sorted(side(h, w) for h, w in image_sizes)[len(image_sizes) // 2]


def depth_decides(image_sizes: list[tuple[int, int]], size: int = DEFAULT_SIZE) -> bool:
    """Whether ``choose_resize_mode`` needs the masks' depth for these images (large enough
    for crops by size, not so large that they crop whatever their masks): only then are
    masks read for it."""
    if choose_resize_mode(image_sizes, size) != "crop":
        return False
    return _median_side(image_sizes, max) <= MAX_WHOLE_SIDE


def resolve_resize_mode(
    image_sizes: list[tuple[int, int]], size: int, depth: Callable[[], float | None]
) -> tuple[str, bool]:
    """What ``auto`` picks, and whether the masks decided it (large images resized whole):
    ``depth`` (the masks' ``core.structure_scale`` depth, read only when it decides) is
    called only when ``depth_decides``."""
    if not depth_decides(image_sizes, size):
        return choose_resize_mode(image_sizes, size), False
    mode = choose_resize_mode(image_sizes, size, depth())
    return mode, mode == "resize"


def describe_resize_mode(
    mode: str, image_sizes: list[tuple[int, int]], size: int, by_masks: bool = False
) -> str:
    """One line for the Train panel: what the mode does with these images (``by_masks``:
    ``auto`` resized them whole, large as they are, for their masks' depth)."""
    if not image_sizes:
        return ""
    h, w = sorted(image_sizes)[len(image_sizes) // 2]
    if mode == "crop":
        return f"images of about {w}x{h} px: trained on {size} px crops at full resolution"
    why = " (large, but their masks' objects stay whole at that size)" if by_masks else ""
    if not KEEP_ASPECT:
        return f"images of about {w}x{h} px: trained and proposed whole, at {size} px{why}"
    return (
        f"images of about {w}x{h} px: trained and proposed whole, the longer side at {size} px "
        f"(proportions kept){why}"
    )
