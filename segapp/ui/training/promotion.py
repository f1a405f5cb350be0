"""After a run: score the new version against the active one off the GUI thread, and say so.

The decision is ``versions.promote_if_better`` (same validation images for both); it runs
with ``activate=False`` in a process of its own (``jobs.check``: torch never loads in the
window's, and a crash there costs the check, not the window), waited for by a worker
thread, and the caller records the choice with ``versions.set_active`` on the GUI thread
(the session saves segapp.json there too).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from segapp.core.imageio import SegappError
from segapp.core.project import Project
from segapp.ml import unfinished, versions
from segapp.ml.job_process import JobCancelled, run_job
from segapp.ui.tasks import run_task

Result = tuple[bool, float, float | None]  # promoted, new IoU, active IoU


def score_in_thread(
    owner: QObject,
    project: Project,
    new: Path,
    val_stems: list[str],
    device: str,
    on_done: Callable[[Result | None], None],
    on_error: Callable[[str], None],
) -> None:
    args = {"project": str(project.root), "new": str(new), "val": list(val_stems)}

    def score() -> Result | None:  # None: cut short (the window closes), checked on next open
        try:
            got, _ = run_job("check", args | {"device": device}, what="the version check")
        except JobCancelled:
            return None
        promoted, new_iou, active_iou = got
        return bool(promoted), float(new_iou), None if active_iou is None else float(active_iou)

    run_task(owner, score, on_done, on_error, "promote")


def record(project: Project, new: Path, result: Result, n_val: int) -> tuple[str, bool]:
    """On the GUI thread: make ``new`` active when ``result`` says so; (what to say, whether
    it became active). A read-only segapp.json or a full disk is said, not raised."""
    old = versions.active_version(project)
    text = describe(new.name, result, old and old.name, n_val)
    if not result[0]:
        return text, False
    try:
        versions.set_active(project, new.name)
    except SegappError as e:
        return f"{new.name} kept but not made active: {e}", False
    return text, True


def unchecked_run(project: Project) -> tuple[Path, list[str], str] | None:
    """A version whose run ended with nobody to check it (the window closed, or the project
    was switched, during the run): (its folder, its validation images still corrected, what
    to say), or None; a record of the active version itself is forgotten."""
    version = unfinished.unchecked_version(project)
    if version is None:
        return None
    active = versions.active_version(project)
    if active is not None and active.name == version.name:
        unfinished.clear_unchecked(project, version.name)
        return None
    corrected = {e.stem for e in project.corrected()}
    val = [s for s in version.config.get("val_images", []) if s in corrected]
    ending = unfinished.run_ending(version) or "its run ended while the project was closed"
    said = f"{version.name} ({ending}) was not checked yet; scoring it against the active version…"
    return version.path, val, said


def adopt_newest(project: Project) -> str:
    """With no active version recorded, make the newest version in ``models/`` active (one
    trained by ``segapp train --out PROJECT/models/vNNN``, which only reads the project):
    proposals and the next run then continue from it. Returns what to say ('' when nothing
    changed). A version awaiting its check (``unchecked_run``) is left to that check."""
    if versions.active_version(project) is not None or unfinished.unchecked_version(project):
        return ""
    found = versions.list_versions(project)
    if not found:
        return ""
    newest = max(found, key=lambda v: (v.created, v.name))
    try:
        versions.set_active(project, newest.name)
    except SegappError as e:
        return f"{newest.name} proposes but could not be made the active version: {e}"
    return (
        f"{newest.name}, the newest version in models/, is now the active version "
        "(none was recorded): proposals and the next Train continue from it"
    )


def describe(new: str, result: Result, old: str | None, n_val: int) -> str:
    promoted, new_iou, active_iou = result
    if promoted and active_iou is None and (n_val == 0 or new_iou != new_iou):
        return f"{new} is now the active model (no validation subset yet to score it on)"
    if promoted and active_iou is None and old:
        return (
            f"{new} is now the active model: val IoU {new_iou:.3f} (too few validation images "
            f"that {old} did not train on to compare them)"
        )
    if promoted and old and active_iou is not None:
        return (
            f"{new} is now the active model: val IoU {new_iou:.3f} vs {active_iou:.3f} for "
            f"{old} on the same {n_val} images"
        )
    if promoted:  # the first version: nothing to compare it with
        return f"{new} is now the active model: val IoU {new_iou:.3f} on {n_val} validation images"
    return (
        f"{new} kept but not made active: val IoU {new_iou:.3f} vs {active_iou or 0:.3f} for "
        f"{old or 'the active version'}; you can make it active in Versions"
    )
