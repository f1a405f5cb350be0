"""How unsure a trained version is of an image, to suggest what to correct next.

Uncertainty sampling (Lewis & Gale 1994) joined to the colour-layout diversity of
:mod:`segapp.core.diversity`: an image the model cannot decide on teaches the next round more
than one it already gets right. In the scripted loop (suggested order, ids 1-160 of
human-segmentation, scored on 161-200) the 40-image round scored higher with the weights
than on the colour layout alone (docs/first-rounds.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from segapp.core.diversity import farthest_first
from segapp.core.project import Project

MAX_SCORED = 300  # images scored per suggestion at most (the most unlike the corrected)
MAX_SECONDS = 30.0  # ... and for at most this long (large images tile): the rest weigh the mean
FLOOR = 0.01  # an image the model is sure of still weighs a little: it may be wrong


def candidates(signatures: Mapping[str, np.ndarray], centres: list[str]) -> list[str]:
    """The images a version scores for a suggestion: the ``MAX_SCORED`` least like the
    ``centres`` (the corrected ones and the one on screen), the most unlike first, so a
    scoring cut short by ``MAX_SECONDS`` has read those."""
    return farthest_first(signatures, centres, MAX_SCORED)


def image_uncertainty(probs: np.ndarray) -> float:
    """Mean over pixels of 1 - the margin of the decision, in [0, 1]: for a binary model's
    (1, H, W) foreground probability 1 - |2p - 1|, for K classes 1 - (top1 - top2)."""
    if probs.shape[0] == 1:
        margin = np.abs(2.0 * probs[0] - 1.0)
    else:
        top2 = np.partition(probs, probs.shape[0] - 2, axis=0)[-2:]
        margin = top2[1] - top2[0]
    return float(np.mean(1.0 - margin))


def score_images(
    project: Project,
    model_ref: str | Path,
    stems: list[str],
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    read: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, float]:
    """{stem: weight} for ``stems``: the model's uncertainty on each image, at least
    ``FLOOR``, made as its proposals are (the version's own size and mode; ``read``: an
    image's probabilities from one plain pass, by default PyTorch's). An image that cannot
    be read gets no weight; ``cancelled()`` true stops early (what was scored)."""
    if read is None:
        from segapp.ml.infer import torch_predictor

        predictor = torch_predictor(model_ref, device)

        def read(image: np.ndarray) -> np.ndarray:
            return predictor.predict(image, mirror=False)

    found: dict[str, float] = {}
    for i, stem in enumerate(stems, 1):
        if cancelled is not None and cancelled():
            break
        try:
            image = project.read_image(project.entry(stem))
        except Exception:  # noqa: BLE001 - no weight: it weighs the others' mean
            continue
        # one pass: a ranking, not a proposal (the mirrored pass would double the reading)
        found[stem] = max(FLOOR, image_uncertainty(read(image)))
        if progress is not None:
            progress(i, len(stems))
    return found
