"""Learning from the images nobody has corrected yet: confident pseudo-labels (FixMatch style).

Each training step also takes a batch of unlabeled project images in a weak view (flips and
90-degree turns). The model, without gradients and in eval mode, predicts them; pixels it
is sure of (probability above ``threshold``, or below ``1 - threshold`` for binary
masks) become targets for the same images in a strong view (colour, contrast, noise and
cut-out on the same geometry, so targets stay aligned), and that loss is added to the
supervised one with a weight that ramps up once the model has learned something.
"""

from __future__ import annotations

import logging
import random
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from segapp.core.imageio import SegappError
from segapp.core.project import ImageEntry, Project
from segapp.ml.letterbox import letterbox
from segapp.ml.preprocess import match_channels, normalize
from segapp.ml.spec import ModelSpec

log = logging.getLogger(__name__)

THRESHOLD = 0.98  # measured at 10 images: 0.9 -> IoU 0.34, 0.98 -> 0.43 (0.45 without)
RAMP = (0.2, 0.4)  # the weight rises from 0 to 1 between these fractions of the steps


def unlabeled_entries(
    project: Project, exclude: set[str], limit: int, seed: int = 0
) -> list[ImageEntry]:
    """Up to ``limit`` images that are neither training nor validation images, chosen at
    random (stable for a seed)."""
    pool = [e for e in project.entries if e.stem not in exclude]
    random.Random(seed).shuffle(pool)
    return pool[:limit]


def load_unlabeled(
    project: Project,
    entries: list[ImageEntry],
    in_channels: int,
    size: int,
    threads: int = 4,
    keep_aspect: bool = False,
) -> list[np.ndarray]:
    """Decode and bring images to ``size`` x ``size`` (letterboxed with ``keep_aspect``,
    as the labelled ones); unreadable ones are skipped (they are optional: the supervised
    images decide whether training can run)."""

    def load(entry: ImageEntry) -> np.ndarray | None:
        try:
            img = match_channels(project.read_image(entry), in_channels)
        except SegappError as e:
            log.warning("unlabeled image skipped: %s", e)
            return None
        img = letterbox(img, size, cv2.INTER_AREA, keep_aspect)[0]
        return img[:, :, None] if img.ndim == 2 else img

    with ThreadPoolExecutor(max(1, threads)) as pool:
        return [img for img in pool.map(load, entries) if img is not None]


class UnlabeledDataset(torch.utils.data.Dataset):
    """Weak views (flips, 90-degree turns) of unlabeled images, normalised for the network;
    ``upright`` images (segapp.ml.orientation) are mirrored left-right only."""

    def __init__(self, images: list[np.ndarray], spec: ModelSpec, upright: bool = False):
        self.images = images
        self.spec = spec
        self.upright = upright

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        img = self.images[index]
        if random.random() < 0.5:
            img = img[:, ::-1]
        if not self.upright:
            if random.random() < 0.5:
                img = img[::-1]
            img = np.rot90(img, random.randrange(4))
        return torch.from_numpy(normalize(np.ascontiguousarray(img), self.spec))


def endless(loader):
    """Batches from ``loader`` forever (a new shuffle each pass)."""
    while True:
        yield from loader


def strong_view(x: torch.Tensor) -> torch.Tensor:
    """Photometric changes and cut-out on normalised images, geometry untouched."""
    n = x.shape[0]
    shape = (n, 1, 1, 1)
    contrast = torch.empty(shape, device=x.device).uniform_(0.6, 1.4)
    brightness = torch.empty(shape, device=x.device).uniform_(-0.5, 0.5)
    channel = torch.empty((n, x.shape[1], 1, 1), device=x.device).uniform_(-0.2, 0.2)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    out = (x - mean) * contrast + mean + brightness + channel
    out = out + 0.1 * torch.randn_like(out)
    h, w = x.shape[-2:]
    for i in range(n):  # one hole of up to half the side, filled with the mean colour (0)
        ch, cw = random.randint(h // 8, h // 2), random.randint(w // 8, w // 2)
        y0, x0 = random.randint(0, h - ch), random.randint(0, w - cw)
        out[i, :, y0 : y0 + ch, x0 : x0 + cw] = 0
    return out


def pseudo_label_loss(
    student: torch.Tensor, teacher: torch.Tensor, threshold: float = THRESHOLD
) -> tuple[torch.Tensor, float]:
    """Loss of ``student`` logits on the confident pixels of ``teacher`` logits, and the
    share of pixels that were confident. Binary: one logit channel; else softmax classes."""
    student, teacher = student.float(), teacher.float()
    if teacher.shape[1] == 1:
        p = torch.sigmoid(teacher)
        mask = ((p > threshold) | (p < 1 - threshold)).float()
        target = (p > 0.5).float()
        loss = F.binary_cross_entropy_with_logits(student, target, reduction="none")
        kept = mask.sum()
        return (loss * mask).sum() / kept.clamp(min=1.0), float(mask.mean())
    p, target = torch.softmax(teacher, dim=1).max(dim=1)
    target = target.masked_fill(p <= threshold, -100)
    kept = (target >= 0).float().mean()
    if float(kept) == 0:
        return student.sum() * 0.0, 0.0
    return F.cross_entropy(student, target, ignore_index=-100), float(kept)


def ramp(step: int, total: int) -> float:
    """Weight of the unlabeled loss at ``step`` of ``total`` (0 early, 1 from RAMP[1] on)."""
    start, end = RAMP
    t = step / max(1, total)
    if t <= start:
        return 0.0
    return min(1.0, (t - start) / (end - start))
