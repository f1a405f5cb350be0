"""Teaching a model to follow clicks while it learns to propose (RITM's iterative training).

A share of each batch's views (``--clicks``, :data:`segapp.ml.recipe.CLICK_SHARE`) gets a
previous mask and clicks in its click channels; the rest get them empty and learn to
propose, so one model both proposes and refines. The previous mask is either the model's
own proposal for the view (one forward pass without gradient, as a person would start
from it) or the true mask perturbed (grown, shrunk, with blobs added or cut, or empty).
Then one to three clicks come from the standard annotator
(:func:`segapp.core.clicks.next_click`), each fixing the error region it lands in before
the next is placed, as a person clicking through the errors would; the target is always
the true mask.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from segapp.core.clicks import Click, next_click
from segapp.core.project import IGNORE_INDEX
from segapp.ml.interactive import click_input

MAX_CLICKS = 3
OWN_PROPOSAL = 0.5  # share of click views that start from the model's own proposal
EMPTY_START = 0.15  # share of the others that start from an empty mask


def empty_clicks(x: torch.Tensor, click_channels: int) -> torch.Tensor:
    """``x`` followed by empty click channels (a proposal's input)."""
    if not click_channels:
        return x
    n, _, h, w = x.shape
    empty = torch.zeros(n, click_channels, h, w, dtype=x.dtype, device=x.device)
    return torch.cat([x, empty], 1)


def with_clicks(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    share: float,
    rng: np.random.Generator,
    frozen_bn: list | None = None,
) -> torch.Tensor:
    """The batch's network input: image channels, then click channels for ``share`` of the
    views (previous mask and simulated clicks), empty for the rest."""
    xin = empty_clicks(x, 3)
    chosen = np.flatnonzero(rng.random(len(x)) < share)
    if not len(chosen):
        return xin
    labels = y.detach().cpu().numpy()
    own = chosen[rng.random(len(chosen)) < OWN_PROPOSAL]
    proposals = _proposals(model, xin[torch.as_tensor(own, device=x.device)], frozen_bn)
    aux = np.zeros((len(chosen), 3, *labels.shape[1:]), np.float32)
    for k, i in enumerate(chosen):
        truth, ignore = labels[i] == 1, labels[i] == IGNORE_INDEX
        prev = proposals[np.flatnonzero(own == i)[0]] if i in own else perturbed(truth, rng)
        clicks = simulated_clicks(truth, prev, ignore, int(rng.integers(1, MAX_CLICKS + 1)))
        aux[k] = click_input(prev, clicks)
    index = torch.as_tensor(chosen, device=x.device)
    xin[index, x.shape[1] :] = torch.from_numpy(aux).to(x.device, x.dtype)
    return xin


@torch.no_grad()
def _proposals(model: torch.nn.Module, xin: torch.Tensor, frozen_bn: list | None) -> np.ndarray:
    """The model's own masks for these views (eval mode, no gradient)."""
    if not len(xin):
        return np.zeros((0, *xin.shape[2:]), bool)
    was_training = model.training
    model.eval()
    try:
        logits = model(xin).float()
    finally:
        model.train(was_training)
        for m in frozen_bn or ():
            m.eval()
    return (logits[:, 0] > 0).cpu().numpy()


def perturbed(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible imperfect mask: the truth grown or shrunk, with a blob added or cut, or
    (sometimes) nothing at all."""
    if rng.random() < EMPTY_START or not truth.any():
        return np.zeros_like(truth)
    mask = truth.astype(np.uint8)
    side = max(truth.shape)
    k = int(rng.integers(1, max(2, side // 25)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    mask = cv2.dilate(mask, kernel) if rng.random() < 0.5 else cv2.erode(mask, kernel)
    for _ in range(int(rng.integers(0, 3))):
        cx, cy = rng.integers(0, truth.shape[1]), rng.integers(0, truth.shape[0])
        axes = (int(rng.integers(side // 30 + 1, side // 6 + 2)),) * 2
        cv2.ellipse(mask, (int(cx), int(cy)), axes, 0, 0, 360, int(rng.random() < 0.5), -1)
    return mask > 0


def simulated_clicks(
    truth: np.ndarray, prev: np.ndarray, ignore: np.ndarray, count: int
) -> list[Click]:
    """Up to ``count`` clicks of the standard annotator, each fixing its error region first."""
    current = prev.copy()
    clicks: list[Click] = []
    for _ in range(count):
        click = next_click(truth, current, ignore)
        if click is None:
            break
        clicks.append(click)
        wrong = (current != truth) & ~ignore
        _, regions = cv2.connectedComponents(wrong.astype(np.uint8), connectivity=8)
        region = regions == regions[int(click.y), int(click.x)]
        current[region] = truth[region]
    return clicks
