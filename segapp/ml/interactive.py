"""Click to correct: the model redraws the active class's mask from the person's clicks.

A model trained with click channels (``ModelSpec.click_channels``, the RITM "iterative
mask" way) sees the image, the previous mask and disks at the positive and negative
clicks; with an empty mask and no clicks it is the proposal model. Clicks refine a window
around them (:func:`segapp.core.clicks.refine_window`, FocalClick's focus), cut at the
scale the model was trained at, so a click on a 4096 px image costs what one on a small
image does. A model without click channels (the default: trained so, at the CPU's round
budgets, the network learnt to ignore clicks), or none yet, refines with GrabCut
(:mod:`segapp.core.grabcut`) guided by the model's probabilities.

No torch at import: the window's engine refines with ONNX Runtime alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from segapp.core.clicks import Click, Window, click_maps, refine_window
from segapp.core.grabcut import grabcut_proposal, grabcut_refine
from segapp.ml.letterbox import letterbox, unletterbox
from segapp.ml.proposal_refine import proposal_probs

CLICK_RADIUS = 5  # px of a click's disk at the network's input scale (RITM: 5)


class Net(Protocol):
    """What refining needs of a predictor (``infer.Predictor``, ``OnnxPredictor``)."""

    click_channels: int
    resize_to: int | None
    keep_aspect: bool

    def image_input(self, img: np.ndarray) -> np.ndarray: ...

    def run_input(self, x: np.ndarray) -> np.ndarray: ...

    def predict(self, image: np.ndarray) -> np.ndarray: ...


def click_input(prev: np.ndarray, clicks: Sequence[Click], radius: float = CLICK_RADIUS):
    """(3, H, W) float32: the previous mask, then positive and negative click disks."""
    maps = click_maps(clicks, prev.shape[:2], radius)
    return np.concatenate([prev.astype(np.float32)[None], maps])


def model_refine(
    net: Net, image: np.ndarray, prev: np.ndarray, clicks: Sequence[Click], threshold: float = 0.5
) -> tuple[np.ndarray, Window]:
    """(new mask inside the window, the window): the network redraws the window."""
    window = refine_window(prev, clicks)
    x, y, w, h = window
    crop, mask = image[y : y + h, x : x + w], prev[y : y + h, x : x + w].astype(np.uint8)
    side, box = net.resize_to, None
    if side:  # trained on whole images brought to side x side: the window likewise
        crop, box = letterbox(crop, side, cv2.INTER_AREA, net.keep_aspect)
        mask, _ = letterbox(mask, side, cv2.INTER_NEAREST, net.keep_aspect)
        sx, sy = box.scale_x, box.scale_y
        local = [c.scaled(sx, sy, x - box.left / sx, y - box.top / sy) for c in clicks]
    else:  # trained at native scale
        local = [c.scaled(1.0, 1.0, x, y) for c in clicks]
    x_in = np.concatenate([net.image_input(crop), click_input(mask, local)])
    probs = net.run_input(x_in)[:1]
    if box is not None:
        probs = unletterbox(probs, box, h, w)
    return probs[0] > threshold, window


NO_MODEL_NAME = "GrabCut refines (no trained model yet)"


class Refiner:
    """Redraws a mask from clicks: the model when it follows clicks, else GrabCut.

    ``net``: a predictor, or None (no trained model: GrabCut from the clicks alone);
    ``class_value``: the class clicks are about (a multi-class model's probabilities seed
    GrabCut; clicks train binary models only); ``finish``: how the model's proposals are
    refined (``proposal_refine.METHODS``), for ``propose``.
    """

    def __init__(
        self,
        net: Net | None,
        model_name: str = "",
        threshold: float = 0.5,
        class_value: int = 1,
        finish: str = "none",
    ) -> None:
        self.net = net
        self.threshold = threshold
        self.class_value = class_value
        self.finish = finish
        follows = net is not None and net.click_channels and class_value == 1
        self.kind = "model" if follows else "grabcut"
        if self.kind == "model":
            self.name = f"{model_name or 'the model'} refines"
        elif net is None:
            self.name = NO_MODEL_NAME
        else:
            self.name = f"GrabCut refines, guided by {model_name or 'the model'}"
        self._probs: tuple[np.ndarray, np.ndarray] | None = None  # (image, its probability)
        self._binary = True  # whether the model's probabilities are one class's

    def refine_window(
        self, image: np.ndarray, prev: np.ndarray, clicks: Sequence[Click]
    ) -> tuple[np.ndarray, Window]:
        """(new mask inside the window, the window); outside it the mask stays."""
        if not clicks:
            raise ValueError("refining needs at least one click")
        if self.kind == "model":
            return model_refine(self.net, image, prev, clicks, self.threshold)
        return grabcut_refine(image, prev, clicks, self._foreground(image))

    def refine(self, image: np.ndarray, prev: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
        """The whole new mask (bool HxW)."""
        inside, (x, y, w, h) = self.refine_window(image, prev, clicks)
        out = prev.astype(bool).copy()
        out[y : y + h, x : x + w] = inside
        return out

    def propose(self, image: np.ndarray) -> np.ndarray:
        """The model's proposal (bool HxW), finished as the window's is; empty without a model."""
        probs = self._foreground(image)
        if probs is None:
            return np.zeros(image.shape[:2], bool)
        if self.finish == "grabcut" and self._binary:
            return grabcut_proposal(image, probs, self.threshold)
        return probs > self.threshold

    def know(self, image: np.ndarray, probs: np.ndarray) -> None:
        """Take ``probs`` (K x H x W, as ``proposal_probs`` makes them: a proposal's) as the
        model's of ``image``, so the clicks on it need no network pass of their own."""
        if self.net is not None and (self._probs is None or self._probs[0] is not image):
            self._binary = probs.shape[0] == 1
            fg = probs[0] if self._binary else probs[min(self.class_value, len(probs) - 1)]
            self._probs = (image, fg)

    def _foreground(self, image: np.ndarray) -> np.ndarray | None:
        """The model's foreground probability of ``image`` (cached for the last image)."""
        if self.net is None:
            return None
        if self._probs is None or self._probs[0] is not image:
            net = self.net
            self.know(image, proposal_probs(net.predict, image, self.finish, bool(net.resize_to)))
        return self._probs[1]


def load_refiner(model_dir: str | Path | None, device: str = "cpu", **kwargs: Any) -> Refiner:
    """A refiner for a trained checkpoint folder (PyTorch, or ONNX Runtime on the CPU), or
    GrabCut alone for ``None``."""
    if model_dir is None:
        return Refiner(None)
    from segapp.ml.checkpoint import load_model
    from segapp.ml.infer import Predictor

    loaded = load_model(str(model_dir), device)
    net = Predictor(loaded, device, **kwargs)
    return Refiner(net, Path(model_dir).name, finish=net.refine)
