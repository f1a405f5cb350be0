"""Segmentation losses, torch only, one call shape for all of them.

``make_loss(name, classes)`` returns a callable ``loss(logits, target, weight_map=None)``:

- ``logits``: (N, classes, H, W) float, raw network output (no sigmoid/softmax);
- ``target``: (N, H, W) int64 class indices (0/1 for binary; any value > 0 counts as
  foreground when ``classes == 1``); (N, 1, H, W) is accepted too;
- ``weight_map``: (N, H, W) float per-pixel weights, required by ``"weighted-ce"``
  (the U-Net paper's border weight map, see ``weightmap.py``) and ignored by the others.

Binary models (``classes == 1``, one sigmoid logit channel) use sigmoid formulations;
multi-class models (``classes == C >= 2``) use softmax / cross-entropy:

============  ========================================  ===========================================
name          binary (classes == 1)                     multi-class (classes == C >= 2)
============  ========================================  ===========================================
bce           binary cross-entropy on logits             cross-entropy (softmax)
dice          1 - soft Dice of the foreground            1 - mean soft Dice over classes 1..C-1
bce-dice      bce + dice (the default)                   cross-entropy + dice
jaccard       1 - soft IoU of the foreground             1 - mean soft IoU over classes 1..C-1
bce-lovasz    bce + Lovasz hinge, per image              cross-entropy + Lovasz-softmax, per image
focal         focal loss, gamma 2, on sigmoid            focal loss, gamma 2, on softmax
weighted-ce   mean over pixels of w(x) * BCE(x)          mean over pixels of w(x) * CE(x)
============  ========================================  ===========================================

Soft Dice / IoU are computed over the whole batch (sums over N, H, W), with a smoothing
term of 1 on numerator and denominator, so an empty target predicted empty scores 0 loss.
``weighted-ce`` is the paper's energy sum_x w(x) log p_l(x)(x), averaged over pixels
(not divided by the weight sum, so doubling a weight doubles that pixel's share).

Target pixels equal to ``IGNORE_INDEX`` (255: VOC's and labelme's ``__ignore__``) count
in no term: means and sums run over the other pixels only.

Everything is computed in float32 (logits are cast up), so the losses are safe under
``torch.autocast``; the sigmoid/softmax terms use log-sum-exp forms for stability.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from segapp.core.project import IGNORE_INDEX

LOSSES = ("bce", "dice", "bce-dice", "jaccard", "focal", "weighted-ce", "bce-lovasz")
DEFAULT_LOSS = "bce-dice"

SMOOTH = 1.0
FOCAL_GAMMA = 2.0

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def _check(
    logits: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None, classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Checked float32 logits, int64 target (ignored pixels set to 0), weight map, and the
    valid-pixel mask (N, H, W) float, or None when no pixel is ignored."""
    if logits.dim() != 4 or logits.shape[1] != classes:
        raise ValueError(
            f"logits must be (N, {classes}, H, W) for a {classes}-channel model, "
            f"got {tuple(logits.shape)}"
        )
    if target.dim() == 4 and target.shape[1] == 1:
        target = target[:, 0]
    if weight_map is not None and weight_map.dim() == 4 and weight_map.shape[1] == 1:
        weight_map = weight_map[:, 0]
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must be (N, H, W) = {expected} to match the logits, got "
            f"{tuple(target.shape)} (valid-convolution networks need the target cropped "
            "to the output size)"
        )
    if weight_map is not None and tuple(weight_map.shape) != expected:
        raise ValueError(f"weight map must be {expected}, got {tuple(weight_map.shape)}")
    logits = logits.float()
    if weight_map is not None:
        weight_map = weight_map.float()
    target = target.long()
    ignored = target == IGNORE_INDEX
    if not bool(ignored.any()):
        return logits, target, weight_map, None
    return logits, target.masked_fill(ignored, 0), weight_map, (~ignored).float()


def _mean(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-pixel terms over the valid pixels."""
    if valid is None:
        return x.mean()
    return (x * valid).sum() / valid.sum().clamp(min=1.0)


# -- per-pixel terms (N, H, W) ------------------------------------------------------------


def _pixel_ce(logits: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    if classes == 1:
        return F.binary_cross_entropy_with_logits(
            logits[:, 0], (target > 0).float(), reduction="none"
        )
    return F.cross_entropy(logits, target, reduction="none")


# -- soft overlap (Dice / Jaccard) ---------------------------------------------------------


def _soft_overlap(
    logits: torch.Tensor, target: torch.Tensor, classes: int, valid: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per foreground class: (soft intersection, soft cardinality sum |P| + |T|)."""
    if classes == 1:
        prob = torch.sigmoid(logits[:, 0])
        fg = (target > 0).float()
        if valid is not None:
            prob, fg = prob * valid, fg * valid
        inter = (prob * fg).sum().unsqueeze(0)
        card = (prob.sum() + fg.sum()).unsqueeze(0)
        return inter, card
    prob = torch.softmax(logits, dim=1)[:, 1:]
    onehot = F.one_hot(target, classes).permute(0, 3, 1, 2)[:, 1:].float()
    if valid is not None:
        prob, onehot = prob * valid[:, None], onehot * valid[:, None]
    dims = (0, 2, 3)
    return (prob * onehot).sum(dims), prob.sum(dims) + onehot.sum(dims)


def _dice(logits, target, classes: int, valid: torch.Tensor | None) -> torch.Tensor:
    inter, card = _soft_overlap(logits, target, classes, valid)
    return 1.0 - ((2.0 * inter + SMOOTH) / (card + SMOOTH)).mean()


def _jaccard(logits, target, classes: int, valid: torch.Tensor | None) -> torch.Tensor:
    inter, card = _soft_overlap(logits, target, classes, valid)
    return 1.0 - ((inter + SMOOTH) / (card - inter + SMOOTH)).mean()


def _focal(logits, target, classes: int, valid: torch.Tensor | None) -> torch.Tensor:
    logpt = -_pixel_ce(logits, target, classes)  # log p of the true class, stable
    pt = logpt.exp()
    return _mean((1.0 - pt).pow(FOCAL_GAMMA) * -logpt, valid)


# -- Lovasz extension of the IoU (Berman et al. 2018), per image ---------------------------


def _lovasz_grad(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of 1 - IoU at errors sorted in decreasing order, along
    the last dimension (``fg_sorted``: the ground truth, 0/1 float, in that order)."""
    total = fg_sorted.sum(-1, keepdim=True)
    intersection = total - fg_sorted.cumsum(-1)
    union = total + (1.0 - fg_sorted).cumsum(-1)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], -1)


def _lovasz(logits, target, classes: int, valid: torch.Tensor | None) -> torch.Tensor:
    """Lovasz hinge (binary) or Lovasz-softmax over the classes present (multi-class), per
    image, averaged over the images: a convex surrogate of each image's IoU, which the bce
    beside it keeps calibrated. Images without a valid pixel count in no term."""
    n = logits.shape[0]
    keep = None if valid is None else valid.reshape(n, -1) > 0
    if classes == 1:
        # one sort for the batch; ignored pixels get an error of -1 and no object, so they
        # sort after every pixel with a positive error and change no term: the extension's
        # prefix sums stop short of them, and what sorts after them has relu(error) = 0
        fg = (target > 0).float().reshape(n, -1)
        errors = 1.0 - logits[:, 0].reshape(n, -1) * (2.0 * fg - 1.0)
        if keep is not None:
            fg = fg * keep
            errors = errors.masked_fill(~keep, -1.0)
        errors, order = torch.sort(errors, dim=1, descending=True)
        per_image = (F.relu(errors) * _lovasz_grad(fg.gather(1, order))).sum(1)
        if keep is not None:
            per_image = per_image[keep.any(1)]
    else:
        terms = []
        for i in range(n):
            prob = torch.softmax(logits[i], dim=0).reshape(classes, -1)
            labels = target[i].reshape(-1)
            if keep is not None:
                prob, labels = prob[:, keep[i]], labels[keep[i]]
            per_class = []
            for c in labels.unique().tolist():
                fg = (labels == c).float()
                errors, order = torch.sort((fg - prob[c]).abs(), descending=True)
                per_class.append(torch.dot(errors, _lovasz_grad(fg[order])))
            if per_class:
                terms.append(torch.stack(per_class).mean())
        per_image = torch.stack(terms) if terms else logits.new_zeros(0)
    return per_image.mean() if per_image.numel() else logits.sum() * 0.0


class SegLoss:
    """A named loss for a ``classes``-channel model; call it as ``loss(logits, target, w)``."""

    def __init__(self, name: str, classes: int) -> None:
        self.name = name
        self.classes = classes

    @property
    def needs_weight_map(self) -> bool:
        return self.name == "weighted-ce"

    def __repr__(self) -> str:
        return f"SegLoss({self.name!r}, classes={self.classes})"

    def __call__(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        weight_map: torch.Tensor | None = None,
    ) -> torch.Tensor:
        c = self.classes
        logits, target, weight_map, valid = _check(logits, target, weight_map, c)
        if self.name == "bce":
            return _mean(_pixel_ce(logits, target, c), valid)
        if self.name == "dice":
            return _dice(logits, target, c, valid)
        if self.name == "bce-dice":
            return _mean(_pixel_ce(logits, target, c), valid) + _dice(logits, target, c, valid)
        if self.name == "jaccard":
            return _jaccard(logits, target, c, valid)
        if self.name == "focal":
            return _focal(logits, target, c, valid)
        if self.name == "bce-lovasz":
            return _mean(_pixel_ce(logits, target, c), valid) + _lovasz(logits, target, c, valid)
        # weighted-ce
        if weight_map is None:
            raise ValueError(
                "the 'weighted-ce' loss needs a weight map (N, H, W); "
                "compute it with segapp.ml.weightmap.unet_weight_map"
            )
        return _mean(_pixel_ce(logits, target, c) * weight_map, valid)


def make_loss(name: str, classes: int) -> SegLoss:
    """The loss ``name`` (one of ``LOSSES``) for a model with ``classes`` output channels."""
    key = name.strip().lower().replace("_", "-")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    if classes < 1:
        raise ValueError(f"classes must be >= 1, got {classes}")
    return SegLoss(key, classes)
