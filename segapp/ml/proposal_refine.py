"""Proposals refined by GrabCut where the model is in doubt, when the images suit it.

A network trained on a few corrected images is sure of most of an image and unsure along
its objects' edges and over look-alike background (the road below a far-off person's feet
after forty portraits). GrabCut (``segapp.core.grabcut.grabcut_proposal``) settles that band
by colour models of what the model is sure of and by the image's edges, as a dense CRF
refines a network's output (Chen et al. 2015, DeepLab). Specks the model is nowhere sure of are
dropped after it (``grabcut.drop_specks``), and the edge pixels it gave to the background that
the model claims come back (``grabcut.keep_rim``). On human-segmentation's unseen street
scenes it lifted the loop's proposals after 10 and 40 corrected images
(docs/first-rounds.md); on grey electron micrographs of membranes, which colour does not
separate, it cost 0.07 IoU. Before it, a model that sees whole images brought to one size
takes a closer look at each object it found (``closer_look.py``, ``proposal_probs``). So a
run decides from its own training images whether its model's proposals are refined
(``decide``: binary colour photos of objects on a background), and the checkpoint keeps the
decision (``proposals`` in ``config.json``) for every path that proposes: the window,
``segapp predict``, ``segapp evaluate`` and the check of a new version against the active one.

No torch here: the window's engine proposes without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segapp.core.grabcut import grabcut_proposal
from segapp.core.imageio import SegappError
from segapp.ml.closer_look import closer_look
from segapp.ml.copy_paste import MAX_DONOR_FOREGROUND, foreground_fraction
from segapp.ml.onnx_predictor import read_checkpoint_config
from segapp.ml.recipe import REFINE_METHODS as METHODS
from segapp.ml.recipe import REFINE_SETTINGS
from segapp.ml.tiling import probs_to_labels

# a colour image: its channels differ by more than this many grey levels on average
MIN_COLOUR_DIFFERENCE = 2.0


@dataclass(frozen=True)
class Refinement:
    """How a model's proposals are refined (``method``: one of ``METHODS``) and why."""

    method: str
    why: str

    def describe(self) -> str:
        if self.method == "grabcut":
            return (
                "proposals refined: a closer look at each object, then GrabCut where the model "
                f"is in doubt; {self.why}"
            )
        return f"proposals not refined; {self.why}"

    def to_config(self) -> dict[str, str]:
        return {"refine": self.method, "why": self.why}


def is_colour(image: np.ndarray) -> bool:
    """Whether ``image`` (HxW or HxWxC) shows colour, not grey stored in three channels."""
    if image.ndim != 3 or image.shape[2] < 3:
        return False
    rgb = image[::4, ::4, :3].astype(np.float32)
    diff = np.abs(rgb[..., 0] - rgb[..., 1]) + np.abs(rgb[..., 1] - rgb[..., 2])
    return float(diff.mean()) / 2 > MIN_COLOUR_DIFFERENCE


def decide(
    setting: str,
    binary: bool,
    resize_mode: str,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
) -> Refinement:
    """The refinement for ``setting`` (one of ``REFINE_SETTINGS``) and these training pairs.

    ``auto`` refines the proposals of a binary model trained on whole images (``resize``
    mode) when most of its images are in colour and most masks are objects on a
    background (labelled pixels at most ``MAX_DONOR_FOREGROUND`` of the image, as the
    donors of copy-paste)."""
    if setting not in REFINE_SETTINGS:
        raise ValueError(f"refine must be one of {', '.join(REFINE_SETTINGS)}")
    if setting != "auto":
        return Refinement(setting, "set")
    if not binary:
        return Refinement("none", "auto: several classes (GrabCut separates one from the rest)")
    if resize_mode != "resize":
        return Refinement("none", "auto: trained on crops at native scale, not whole images")
    colour = sum(map(is_colour, images))
    if 2 * colour <= len(images):
        return Refinement("none", f"auto: {len(images) - colour} of {len(images)} images are grey")
    fractions = [foreground_fraction(m) for m in masks]
    objects = sum(0 < f <= MAX_DONOR_FOREGROUND for f in fractions)
    if 2 * objects <= len(masks):
        return Refinement(
            "none",
            f"auto: {len(masks) - objects} of {len(masks)} masks are no objects on a background",
        )
    why = (
        f"auto: {colour} of {len(images)} images in colour, {objects} masks objects on a background"
    )
    return Refinement("grabcut", why)


def method_of(config: dict[str, Any]) -> str:
    """The refinement a checkpoint's config says (none for checkpoints from before it)."""
    method = (config.get("proposals") or {}).get("refine", "none")
    return method if method in METHODS else "none"


def refine_of(folder: str | Path) -> str:
    """The refinement of the checkpoint in ``folder`` (none when it cannot be read: the
    proposal will say why)."""
    try:
        return method_of(read_checkpoint_config(Path(folder)))
    except SegappError:
        return "none"


def proposal_probs(
    predict: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    method: str,
    whole_images: bool,
    closer: bool = True,
) -> np.ndarray:
    """The probabilities (K x H x W) a proposal of ``image`` is made from: ``predict``'s,
    and, for a model whose proposals GrabCut refines and which sees whole images brought to
    one size (``whole_images``), its closer look at each object it found
    (``closer_look.py``; ``closer=False`` leaves it out, for measuring it)."""
    probs = predict(image)
    if method == "grabcut" and whole_images and closer:
        probs = closer_look(predict, image, probs)
    return probs


def proposal_labels(
    image: np.ndarray, probs: np.ndarray, threshold: float = 0.5, method: str = "none"
) -> np.ndarray:
    """The proposal (class index per pixel) of ``probs`` (K x H x W) on ``image``: thresholded
    or arg-maxed (``tiling.probs_to_labels``), then refined by ``method``."""
    if method == "grabcut" and probs.shape[0] == 1:
        return grabcut_proposal(image, probs[0], threshold).astype(np.uint8)
    return probs_to_labels(probs, threshold)
