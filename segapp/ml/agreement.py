"""Where a version and the corrected masks disagree: masks to look at again.

A version's proposal on each corrected image, compared with the mask saved for it: the IoU,
and the pixels the proposal claims that the mask leaves out, and those it misses, each as a
share of the mask's own area. A version that learned from the other masks and still
disagrees with one, on an image it trained on above all, points at a mask drawn unlike the
others (a pushchair marked with one walker and not another, one of two children left out),
or at a mistake: in the loop on human-segmentation most of the 40-image version's worst
proposals were such masks, not the model's errors (docs/first-rounds.md). The window lists
them worst first (Model > Review masks); the reading runs in a job process
(:mod:`segapp.ml.jobs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segapp.core.project import IGNORE_INDEX, Project


@dataclass(frozen=True)
class Agreement:
    """One corrected image: ``iou`` of the proposal with the mask (foreground classes);
    ``claimed`` / ``missed``: pixels only the proposal / only the mask has, as shares of the
    mask's foreground; ``trained``: the version learned from this mask."""

    stem: str
    iou: float
    claimed: float
    missed: float
    trained: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(stem: str, proposed: np.ndarray, mask: np.ndarray, trained: bool) -> Agreement:
    """A proposal's labels against a saved mask's (class indices; IGNORE_INDEX counts in
    neither). Two empty masks agree (IoU 1)."""
    valid = mask != IGNORE_INDEX
    ours, theirs = (proposed > 0) & valid, (mask > 0) & valid
    same = ours & theirs & (proposed == mask)
    union = np.count_nonzero(ours | theirs)
    area = max(1, np.count_nonzero(theirs))
    iou = np.count_nonzero(same) / union if union else 1.0
    claimed = np.count_nonzero(ours & ~theirs) / area
    missed = np.count_nonzero(theirs & ~ours) / area
    return Agreement(
        stem, round(float(iou), 4), round(float(claimed), 4), round(float(missed), 4), trained
    )


def read_agreement(
    project: Project,
    model_ref: str | Path,
    stems: list[str],
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    propose: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Agreement]:
    """The version's agreement with the mask of each of ``stems``, worst first: its proposals
    made as the window makes them (``propose``: an image's proposal labels, by default
    PyTorch's, refined as the version refines). An image or mask that cannot be read is left
    out (the window stops a reading by ending its process)."""
    from segapp.ml.onnx_predictor import read_checkpoint_config

    trained_on = set(read_checkpoint_config(Path(model_ref)).get("images", []))
    if propose is None:
        from segapp.ml.infer import torch_predictor

        propose = torch_predictor(model_ref, device).predict_labels
    found = []
    for i, stem in enumerate(stems, 1):
        try:
            entry = project.entry(stem)
            image = project.read_image(entry)
            mask = project.read_labels(entry, image.shape[:2])
        except Exception:  # noqa: BLE001 - an unreadable pair is not listed
            continue
        found.append(compare(stem, propose(image), mask, stem in trained_on))
        if progress is not None:
            progress(i, len(stems))
    return sorted(found, key=lambda a: (a.iou, a.stem))
