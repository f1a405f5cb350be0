"""Model work the window hands to a process of its own (:mod:`segapp.ml.job_process`).

Each job runs in an engine process (``{"op": "job", ...}``, :mod:`segapp.ml.engine_server`),
never in the window's: scoring a new version against the active one, reading how unsure a
version is of the images (for Suggest), a version's labels of one image (Compare), timing a
training step (the plan's estimate), finding out whether "auto" trains on a GPU, and
comparing a version's proposals with the corrected masks (Review masks). They
load torch; a native crash, a GPU driver's or torch's own, ends that process and the job,
not the window, and the memory a model held goes back when the process ends.

A job takes JSON arguments (and arrays) and returns a JSON result (and arrays); ``notify``
sends notes (``{"event": "progress", ...}``) before it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Notify = Callable[[dict[str, Any]], None]
Result = tuple[Any, list[np.ndarray]]


def _engine(args: dict[str, Any]):
    """The proposals' own engine (``engine.Engine``) for reading many images: a version's
    cached ONNX export on the CPU (no torch), else PyTorch; it starts no export."""
    from segapp.ml.engine import Engine

    return Engine(args.get("device", "auto"), export=False)


def check(args: dict[str, Any], arrays: list[np.ndarray], notify: Notify) -> Result:
    """``versions.promote_if_better`` without activating: [promoted, new IoU, active IoU]."""
    from segapp.core.project import Project
    from segapp.ml import versions
    from segapp.ml.device import resolve_device

    project = Project.open(args["project"])
    dev = resolve_device(args.get("device", "auto"))
    got = versions.promote_if_better(
        project, Path(args["new"]), list(args["val"]), dev, activate=False, backend="torch"
    )
    return list(got), []


def uncertainty(args: dict[str, Any], arrays: list[np.ndarray], notify: Notify) -> Result:
    """``uncertainty.score_images`` for at most ``max_seconds``: {stem: weight}, progress
    notes on the way."""
    from segapp.core.project import Project
    from segapp.ml import uncertainty as unsure

    deadline = time.monotonic() + float(args.get("max_seconds", unsure.MAX_SECONDS))

    def progress(done: int, total: int) -> None:
        notify({"event": "progress", "done": done, "total": total})

    project = Project.open(args["project"])
    engine, model = _engine(args), str(args["model"])
    found = unsure.score_images(
        project,
        model,
        list(args["stems"]),
        progress=progress,
        cancelled=lambda: time.monotonic() > deadline,
        read=lambda image: engine.read(model, project.num_classes, image),
    )
    return found, []


def agreement(args: dict[str, Any], arrays: list[np.ndarray], notify: Notify) -> Result:
    """``agreement.read_agreement``: a version against the corrected masks, worst first (a
    list of its rows as dicts), progress notes on the way."""
    from segapp.core.project import Project
    from segapp.ml.agreement import read_agreement

    def progress(done: int, total: int) -> None:
        notify({"event": "progress", "done": done, "total": total})

    project = Project.open(args["project"])
    engine, model = _engine(args), str(args["model"])
    threshold = float(args.get("threshold", 0.5))  # the window's, for a binary model
    found = read_agreement(
        project,
        model,
        list(args["stems"]),
        progress=progress,
        propose=lambda image: engine.predict(model, project.num_classes, image, threshold)[0],
    )
    return [a.as_dict() for a in found], []


def labels(args: dict[str, Any], arrays: list[np.ndarray], notify: Notify) -> Result:
    """The proposal of the checkpoint ``args["model"]`` for the image ``arrays[0]``, made as
    the window makes it (the engine; ``classes``: the project's, 2 = binary)."""
    engine = _engine(args)
    classes, threshold = int(args.get("classes", 2)), float(args.get("threshold", 0.5))
    return None, [engine.predict(str(args["model"]), classes, arrays[0], threshold)[0]]


def estimate(args: dict[str, Any], arrays: list[np.ndarray], notify: Notify) -> Result:
    """``estimate.measure(**args)``: the Estimate's fields."""
    from segapp.ml import estimate as est

    return dataclasses.asdict(est.measure(**args)), []


def accelerated(args: dict[str, Any], arrays: list[np.ndarray], notify: Notify) -> Result:
    """Whether device ``args["device"]`` ("auto") resolves to an accelerator."""
    from segapp.ml.device import resolve_device

    return resolve_device(args.get("device", "auto")).type != "cpu", []


JOBS: dict[str, Callable[[dict[str, Any], list[np.ndarray], Notify], Result]] = {
    "check": check,
    "uncertainty": uncertainty,
    "agreement": agreement,
    "labels": labels,
    "estimate": estimate,
    "accelerated": accelerated,
}


def run(name: str, args: dict[str, Any], arrays: list[np.ndarray], notify: Notify) -> Result:
    """Run the job ``name`` (KeyError: no such job)."""
    return JOBS[name](args, arrays, notify)
