"""Model versions of a project: ``models/v001``, ``models/v002`` … and which one is active.

Used alike by the window's train panel and by scripts (benchmarks/bench_active_loop.py):
choose the corrected images, keep a fixed validation subset apart across versions, build the
``segapp train`` command that runs in a separate process, and after a run, promote the new
version if it beats the active one on the same validation images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segapp.core.effort import COUNTS, Effort
from segapp.core.imageio import write_bytes_atomic
from segapp.core.project import Project
from segapp.ml import recipe

TRAIN_COMMAND = [sys.executable, "-m", "segapp.cli.main", "train"]  # train_command's start
# the next run's process, started ahead: its stdin's first line is the arguments after
# TRAIN_COMMAND, as a JSON list (segapp/cli/standby.py)
STANDBY_COMMAND = [sys.executable, "-m", "segapp.cli.main", "train-standby"]
# as in segapp.ml.checkpoint, which imports torch: the window lists versions without it
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

log = logging.getLogger(__name__)

ACTIVE_KEY = "active_model"
EFFORT_FIELDS = (*COUNTS, "seconds")


@dataclass
class ModelVersion:
    """A trained checkpoint in the project's models/ folder."""

    name: str
    path: Path
    config: dict[str, Any] = field(repr=False)

    @property
    def val_iou(self) -> float | None:
        return self.config.get("metrics", {}).get("val_iou")

    @property
    def base_model(self) -> str:
        return str(self.config.get("base_model", ""))

    @property
    def created(self) -> str:
        return str(self.config.get("created", ""))

    @property
    def images(self) -> int:
        return len(self.config.get("images", []))

    @property
    def preset(self) -> str:
        return self.config.get("model", {}).get("preset", "")


def list_versions(project: Project) -> list[ModelVersion]:
    """Complete checkpoints under models/, oldest first."""
    if not project.models_dir.is_dir():
        return []
    found = (read_version(d) for d in sorted(project.models_dir.iterdir()))
    return [v for v in found if v is not None]


def read_version(d: Path) -> ModelVersion | None:
    """The version in folder ``d``, or None: hidden (e.g. a cancelled run being deleted),
    incomplete or broken (a broken folder is listed nowhere)."""
    if d.name.startswith(".") or not (d / CONFIG_FILE).exists() or not (d / WEIGHTS_FILE).exists():
        return None
    try:
        config = json.loads((d / CONFIG_FILE).read_text())
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        log.warning("%s: skipped (%s)", d, e)
        return None
    return ModelVersion(d.name, d, config)


def next_version_dir(project: Project) -> Path:
    taken = {d.name for d in project.models_dir.iterdir()} if project.models_dir.is_dir() else set()
    n = 1
    while f"v{n:03d}" in taken:
        n += 1
    return project.models_dir / f"v{n:03d}"


def active_version(
    project: Project, listed: list[ModelVersion] | None = None
) -> ModelVersion | None:
    """The active version (``listed``: the result of list_versions, not read again; without
    it only the active version's folder is read, not every version's)."""
    name = project.extra.get(ACTIVE_KEY)
    if listed is None:
        if not is_version_name(name):
            return None  # not a folder of models/ (a hand-edited segapp.json)
        return read_version(project.models_dir / name)
    for v in listed:
        if v.name == name:
            return v
    return None


def is_version_name(name: object) -> bool:
    """Whether a name segapp.json records can be a folder of models/ (not a hand-edited path)."""
    return isinstance(name, str) and Path(name).name == name and name not in ("", ".", "..")


def set_active(project: Project, name: str | None) -> None:
    """Record the active version in segapp.json; on a WriteError (read-only file, full
    disk) the project keeps the version it had."""
    before = project.extra.get(ACTIVE_KEY)
    if name is None:
        project.extra.pop(ACTIVE_KEY, None)
    else:
        project.extra[ACTIVE_KEY] = name
    try:
        project.save()
    except BaseException:
        if before is None:
            project.extra.pop(ACTIVE_KEY, None)
        else:
            project.extra[ACTIVE_KEY] = before
        raise


def training_selection(
    project: Project, val_fraction: float = recipe.VAL_FRACTION, seed: int = 0
) -> tuple[list[str], list[str]]:
    """(train stems, validation stems) over the corrected images, saved in segapp.json.

    A validation subset is held out only once it would hold at least
    ``recipe.MIN_VAL_IMAGES`` images (48 corrected images at 20 %): fewer cannot choose an
    epoch or a version reliably and teach more as training images. The subset is stored in
    segapp.json and only grows: images once held out stay held out, so every version is
    scored on the images earlier ones were.
    """
    train, val = plan_split(project, val_fraction, seed)
    project.val_stems = val
    project.save()
    return train, val


def plan_split(
    project: Project, val_fraction: float = recipe.VAL_FRACTION, seed: int = 0
) -> tuple[list[str], list[str]]:
    """What :func:`training_selection` would choose now, without saving anything."""
    corrected = project.corrected()
    names = {e.stem for e in corrected}
    fixed = [s for s in project.val_stems if s in names]
    train, val = recipe.keep_validation(*project.split(val_fraction, seed, corrected, fixed))
    return [e.stem for e in train], [e.stem for e in val]


def train_command(
    project: Project,
    out: Path,
    base: str,
    train_stems: list[str],
    val_stems: list[str],
    epochs: int | None = None,
    size: int = recipe.DEFAULT_SIZE,
    batch_size: int | None = None,
    lr: float = recipe.DEFAULT_LR,
    loss: str = "bce-dice",
    augment: str = recipe.DEFAULT_AUGMENT,
    orientation: str = recipe.DEFAULT_ORIENTATION,
    hue: str = recipe.DEFAULT_HUE,
    refine: str = recipe.DEFAULT_REFINE,
    device: str = "auto",
    resize_mode: str = "auto",
    time_budget: float | None = None,
    seed: int | None = None,
) -> list[str]:
    """The argv of the ``segapp train`` process for one run (lists written into ``out``).

    ``None`` leaves a setting to the recipe (segapp.ml.recipe), as on the command line.
    """
    out.mkdir(parents=True, exist_ok=True)
    images, val = out / "train-images.txt", out / "val-images.txt"
    write_bytes_atomic(images, ("\n".join(train_stems) + "\n").encode())
    write_bytes_atomic(val, ("\n".join(val_stems) + "\n").encode())
    argv = [*TRAIN_COMMAND, str(project.root)]
    options = {
        "--model": base,
        "--out": out,
        "--epochs": epochs,
        "--size": size,
        "--batch-size": batch_size,
        "--lr": lr,
        "--loss": loss,
        "--augment": augment,
        "--orientation": orientation,
        "--hue": hue,
        "--refine": refine,
        "--device": device,
        "--resize-mode": resize_mode,
        "--time-budget": time_budget,
        "--seed": seed,
        "--images": images,
        "--val-images": val,
        "--val-fraction": 0,
    }
    for flag, value in options.items():
        if value is not None:
            argv += [flag, str(value)]
    return [*argv, "--json"]


def score(
    project: Project,
    model_ref: str | Path,
    stems: list[str],
    device: str = "cpu",
    threshold: float = 0.5,
    backend: str | None = None,
) -> float:
    """Set-level foreground IoU of a model on the given labeled images.

    ``backend`` as for :class:`~segapp.ml.infer.Predictor` (the window scores with
    ``"torch"``: an ONNX export holds the GIL longer than scoring a few images takes).
    """
    from segapp.ml.checkpoint import load_model
    from segapp.ml.infer import Predictor
    from segapp.ml.metrics import SegMetrics

    loaded = load_model(model_ref, device)
    predictor = Predictor(loaded, device, backend=backend)
    metrics = SegMetrics(loaded.spec.out_classes)
    for stem in stems:
        entry = project.entry(stem)
        image = project.read_image(entry)
        metrics.update(
            predictor.predict_labels(image, threshold), project.read_labels(entry, image.shape[:2])
        )
    return float(metrics.compute()["iou"])


def promote_if_better(
    project: Project,
    new: Path,
    val_stems: list[str],
    device: str = "cpu",
    activate: bool = True,
    backend: str | None = None,
) -> tuple[bool, float, float | None]:
    """Score the new and the active version on the same images; activate the new if better.

    Only validation images that neither version trained on count. With fewer than
    ``recipe.MIN_VAL_IMAGES`` such images the comparison is noise, and the new version,
    which learned from more corrections (usually continuing from the active one), becomes
    active without a score (new IoU NaN when there is no validation image at all).
    Returns (promoted, new IoU, active IoU or None when not compared).
    ``activate=False`` only decides (the window scores in a worker thread and records the
    choice with :func:`set_active` on its own thread).
    """
    current = active_version(project)
    seen = set(current.config.get("images", [])) if current is not None else set()
    fair = [s for s in val_stems if s not in seen]
    compare = current is not None and recipe.validation_trusted(len(fair))
    stems = fair if compare else val_stems
    new_iou = score(project, new, stems, device, backend=backend) if stems else float("nan")
    active_iou = score(project, current.path, fair, device, backend=backend) if compare else None
    promoted = active_iou is None or new_iou > active_iou
    if promoted and activate:
        set_active(project, new.name)
    return bool(promoted), new_iou, active_iou


def proposal_iou(proposed: np.ndarray, corrected: np.ndarray) -> float:
    """How much of a proposal survived correction: IoU of the labeled pixels (same class).

    Intersection: pixels labeled with the same class > 0 in both; union: labeled in either.
    Two empty masks agree fully (1.0).
    """
    a, b = proposed > 0, corrected > 0
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b & (proposed == corrected)) / union)


def proposal_stats(project: Project) -> dict[str, tuple[int, float]]:
    """Per proposing model: (images corrected since, mean IoU of proposal vs correction)."""
    groups: dict[str, list[float]] = {}
    for e in project.entries:
        if e.proposed_by and e.proposal_iou is not None:
            groups.setdefault(e.proposed_by, []).append(e.proposal_iou)
    return {k: (len(v), sum(v) / len(v)) for k, v in groups.items()}


@dataclass
class EffortStats:
    """Mean effort per corrected image of one proposing model (``core.effort``)."""

    images: int  # corrected images it proposed that have an effort record
    clicks: float
    strokes: float
    fills: float
    polygons: float
    seconds: float


def effort_stats(project: Project) -> dict[str, EffortStats]:
    """Per proposing model: what correcting its proposals cost, per corrected image (the
    images corrected before effort was recorded, or imported, have no record and count
    nowhere)."""
    groups: dict[str, list[Effort]] = {}
    for e in project.entries:
        if e.status == "corrected" and e.proposed_by and e.effort is not None:
            groups.setdefault(e.proposed_by, []).append(e.effort)
    return {
        name: EffortStats(
            len(efforts),
            *(sum(getattr(x, k) for x in efforts) / len(efforts) for k in EFFORT_FIELDS),
        )
        for name, efforts in groups.items()
    }


def stems_digest(stems: list[str]) -> str:
    """A short fingerprint of a validation subset (shown beside the versions' IoU)."""
    return hashlib.sha1("\n".join(sorted(stems)).encode()).hexdigest()[:8]
