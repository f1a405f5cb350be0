"""Versions whose run did not end as planned, or that nobody checked against the active one.

- :func:`run_ending` reads a version's ``last/`` record: a run stopped (Stop, Ctrl+C, the
  window closing) or cut off (killed, crashed) before its plan ended says so in Versions,
  and :func:`budget_share` what share of the recipe's steps the time budget let it take.
- The window records the version a run writes (:func:`mark_unchecked`) before it starts and
  forgets it once the version is scored against the active one (:func:`clear_unchecked`).
  A version still recorded when the project opens again (the window closed, or the project
  was switched, during the run) is checked then, as a finished run would have been.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from segapp.core.project import Project
from segapp.ml.versions import CONFIG_FILE, ModelVersion, is_version_name, read_version

log = logging.getLogger(__name__)

UNCHECKED_KEY = "unchecked_version"
RUN_LISTS = {"train-images.txt", "val-images.txt"}  # written before a run starts


def _last_state(version: ModelVersion) -> tuple[dict, dict] | None:
    """(the run's last state, its last epoch's figures), or None without a readable record."""
    try:
        state = json.loads((version.path / "last" / CONFIG_FILE).read_text())["state"]
        return state, state["history"][-1]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def run_ending(version: ModelVersion) -> str:
    """'stopped after 14 of 34 steps' or 'cut off after 30 of 80 steps' when the version's
    run ended short of its plan (in epochs for a record from before runs counted steps); ''
    when it ran its plan (as the time budget cut it), stopped early because validation
    stopped improving, or left no readable record."""
    return run_marks(version)[0]


def budget_share(version: ModelVersion) -> tuple[int, int] | None:
    """(steps taken, steps planned) when the time budget fitted only part of the recipe's
    plan and the run took all it fitted; None otherwise (a stopped or cut-off run says
    :func:`run_ending`, a record from before runs counted steps says nothing)."""
    return run_marks(version)[1]


def run_marks(version: ModelVersion) -> tuple[str, tuple[int, int] | None]:
    """(:func:`run_ending`, :func:`budget_share`) from one read of the version's record."""
    read = _last_state(version)
    if read is None:
        return "", None
    ending = _ending(version, *read)
    if ending:
        return ending, None
    last = read[1]
    done, fit, planned = (last.get(k) for k in ("steps_done", "steps", "steps_planned"))
    if not all(isinstance(n, int) for n in (done, fit, planned)):
        return "", None
    return "", ((done, planned) if done >= fit and fit < planned else None)


def _ending(version: ModelVersion, state: dict, last: dict) -> str:
    try:
        done, planned = int(state["epoch"]), int(state["planned_epochs"])
    except (KeyError, TypeError, ValueError):
        return ""
    if done >= planned:
        return ""
    patience = version.config.get("train", {}).get("patience")
    best = last.get("best_epoch")
    numbers = isinstance(patience, int) and isinstance(best, int)
    if last.get("val_trusted") and numbers and done - best >= patience:
        return ""  # early stop: validation stopped improving
    how = "stopped" if last.get("stopped") else "cut off"
    steps = last.get("steps_done"), last.get("steps")
    if all(isinstance(n, int) for n in steps):
        return f"{how} after {steps[0]} of {steps[1]} steps"
    return f"{how} after {done} of {planned} epochs"


def mark_unchecked(project: Project, name: str) -> None:
    """Record, in segapp.json, that version ``name`` is being trained and not yet checked
    (raises as ``Project.save`` does: the run should not start unrecorded)."""
    project.extra[UNCHECKED_KEY] = name
    project.save()


def clear_unchecked(project: Project, name: str) -> None:
    """Forget the record once ``name`` is checked or discarded; a segapp.json that cannot be
    written is logged (the next open checks the version again, which is harmless)."""
    if project.extra.get(UNCHECKED_KEY) != name:
        return
    project.extra.pop(UNCHECKED_KEY, None)
    try:
        project.save()
    except Exception as e:  # noqa: BLE001 - a read-only file or a full disk
        log.warning("could not record that %s was checked: %s", name, e)


def unchecked_version(project: Project) -> ModelVersion | None:
    """The recorded version, when its folder holds a complete checkpoint; a record of a run
    that left none is forgotten."""
    name = project.extra.get(UNCHECKED_KEY)
    if name is None:
        return None
    if not is_version_name(name):
        project.extra.pop(UNCHECKED_KEY, None)  # not a folder of models/ (hand-edited)
        return None
    folder = project.models_dir / name
    version = read_version(folder)
    if version is None:
        _remove_if_only_lists(folder)
        clear_unchecked(project, name)
    return version


def _remove_if_only_lists(folder: Path) -> None:
    """A run killed before its first checkpoint leaves a folder with only the lists of
    images the window wrote for it: nothing to keep."""
    try:
        names = {p.name for p in folder.iterdir()}
        if names and names <= RUN_LISTS:
            shutil.rmtree(folder)
            log.info("%s: removed (a run that left no checkpoint)", folder)
    except OSError as e:
        log.warning("%s: not removed (%s)", folder, e)
