"""Training data over a project: decoded pairs in memory, albumentations pipelines, a Dataset."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from segapp.core.imageio import SegappError
from segapp.core.project import IGNORE_INDEX, ImageEntry, Project
from segapp.ml.copy_paste import CopyPaste
from segapp.ml.letterbox import letterbox
from segapp.ml.preprocess import match_channels, normalize
from segapp.ml.recipe import HUE_TURN_SHARE
from segapp.ml.spec import ModelSpec
from segapp.ml.tiling import MIRROR, TrainTile

log = logging.getLogger(__name__)

AUGMENT_LEVELS = ("none", "light", "medium", "strong")


class DataError(SegappError):
    """The training data cannot be used as given."""


@dataclass
class Pair:
    """One decoded training pair: HxWxC uint8 image, HxW uint8 class indices."""

    stem: str
    image: np.ndarray
    labels: np.ndarray


def load_pairs(
    project: Project,
    entries: list[ImageEntry],
    in_channels: int,
    size: int | None = None,
    resize_mode: str = "resize",
    threads: int = 4,
    keep_aspect: bool = False,
    unusable: list[str] | None = None,
) -> list[Pair]:
    """Decode image/mask pairs (in parallel), checking sizes and mask values.

    In ``resize`` mode each pair is brought to ``size`` x ``size`` once here (letterboxed with
    ``keep_aspect``, else squashed), so epochs only augment small arrays. Unusable pairs (a
    mask of another size, an unreadable file): with ``unusable`` given, left out and their
    reasons appended to it; else reported in one DataError.
    """

    def load(entry: ImageEntry) -> Pair:
        img = project.read_image(entry)
        labels = project.read_labels(entry, img.shape[:2])
        img = match_channels(img, in_channels)
        if size and resize_mode == "resize":
            img = letterbox(img, size, cv2.INTER_AREA, keep_aspect)[0]
            labels = letterbox(labels, size, cv2.INTER_NEAREST, keep_aspect)[0]
        return Pair(entry.stem, img, labels)

    pairs, errors = [], []
    with ThreadPoolExecutor(max(1, threads)) as pool:
        futures = [pool.submit(load, e) for e in entries]
        for fut in futures:
            try:
                pairs.append(fut.result())
            except SegappError as e:
                errors.append(str(e))
    if errors and unusable is not None:
        unusable.extend(errors)
    elif errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DataError(f"{errors[0]}{more}")
    return pairs


def import_albumentations():
    """The albumentations module, imported without its update check: at import it asks PyPI
    for a newer version, up to 2 s and a warning on an offline machine, in every training
    process. segapp never calls out."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations

    return albumentations


def build_augmentation(
    level: str,
    input_size: int,
    resize_mode: str,
    train: bool,
    upright: bool = False,
    hue_turn: bool = False,
):
    """albumentations pipeline: geometry and intensity augmentation, then size handling.
    ``upright``: images with an up (segapp.ml.orientation) are mirrored left-right only;
    ``hue_turn``: a share of the views has its hue turned at random (segapp.ml.hue_views)."""
    A = import_albumentations()

    if level not in AUGMENT_LEVELS:
        raise ValueError(f"augmentation must be one of {AUGMENT_LEVELS}")
    ops = []
    if resize_mode == "crop":
        ops.append(A.PadIfNeeded(input_size, input_size, border_mode=cv2.BORDER_REFLECT_101))
        ops.append(
            A.RandomCrop(input_size, input_size) if train else A.CenterCrop(input_size, input_size)
        )
    else:
        ops.append(A.Resize(input_size, input_size))
    if train and level != "none":
        strength = {"light": 0.5, "medium": 1.0, "strong": 1.5}[level]
        ops.append(A.HorizontalFlip(p=0.5))
        if not upright:
            ops += [A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5)]
        if level in ("medium", "strong"):
            # scale, shift and a small rotation: few images seen at many sizes and places
            ops.append(
                A.Affine(
                    scale=(1 - 0.25 * strength, 1 + 0.25 * strength),
                    translate_percent=(-0.1 * strength, 0.1 * strength),
                    rotate=(-15 * strength, 15 * strength),
                    border_mode=cv2.BORDER_REFLECT_101,
                    p=0.7,
                )
            )
        ops.append(A.RandomBrightnessContrast(0.2 * strength, 0.2 * strength, p=0.5))
        if level in ("medium", "strong"):
            ops.append(A.HueSaturationValue(10 * strength, 15 * strength, 10 * strength, p=0.3))
            if hue_turn:  # anywhere on the colour circle; grey stays grey
                ops.append(A.HueSaturationValue(180, 0, 0, p=HUE_TURN_SHARE))
            ops.append(
                A.OneOf(
                    [
                        A.GridDistortion(distort_limit=0.2 * strength, p=1.0),
                        A.ElasticTransform(alpha=30 * strength, sigma=6, p=1.0),
                    ],
                    p=0.3 * strength,
                )
            )
    return A.Compose(ops)


def seed_augmentation(transform, seed: int) -> None:
    """Seed an albumentations pipeline, each transform with a seed of its own.

    Unseeded, albumentations 2 draws from the operating system's entropy (``--seed`` would
    not repeat a run); seeded through ``Compose``, every transform gets the same seed and
    their draws agree (both flips or neither)."""
    seeds = iter(np.random.default_rng(seed).integers(0, 2**31, 64).tolist())

    def walk(t) -> None:
        t.set_random_seed(next(seeds))
        for child in getattr(t, "transforms", ()):
            walk(child)

    walk(transform)


class SegDataset(torch.utils.data.Dataset):
    """Augmented, normalised (image, labels[, weight map]) tensors for a list of pairs.

    Sizes are a :class:`~segapp.ml.tiling.TrainTile`'s: padded networks see
    ``input_size`` views. Valid-convolution networks (``output_size`` < ``input_size``) see
    each view mirror-padded by the margin, as overlap-tile inference pads an image, so
    every label pixel is supervised: in ``resize`` mode the ``size`` x ``size`` view is
    padded like the one tile :func:`~segapp.ml.tiling.tile_predict` runs on it (margin at
    the top and left, the rest at the bottom and right; the output's pixels beyond the
    view are ``IGNORE_INDEX``); in ``crop`` mode the image is padded by the margin before
    the crop, so crops reach its border, and the labels are the crop's centre.
    """

    def __init__(
        self,
        pairs: list[Pair],
        spec: ModelSpec,
        input_size: int,
        output_size: int,
        augment: str = "medium",
        resize_mode: str = "resize",
        train: bool = True,
        weight_map: bool = False,
        repeats: int = 1,
        copy_paste: float = 0.0,
        size: int | None = None,
        distractors: float = 0.0,
        object_blur: float = 0.0,
        upright: bool = False,
        hue_turn: bool = False,
    ):
        self.pairs = pairs
        # whole-object photos only: crop mode keeps native scale (segapp.ml.copy_paste)
        shares = (copy_paste, distractors, object_blur)
        use_paste = train and resize_mode == "resize" and max(shares) > 0
        self.copy_paste = CopyPaste(pairs, *shares) if use_paste else None
        self.spec = spec
        self.input_size = input_size
        self.output_size = output_size
        self.size = size or output_size  # the view's side (resize mode)
        self.margin = (input_size - output_size) // 2
        self.resize_mode = resize_mode
        view = self.size if resize_mode == "resize" else input_size
        self.transform = build_augmentation(augment, view, resize_mode, train, upright, hue_turn)
        self.train = train
        self.weight_map = weight_map
        self.repeats = max(1, repeats)

    def __len__(self) -> int:
        return len(self.pairs) * self.repeats

    def __getitem__(self, index: int):
        pair = self.pairs[index % len(self.pairs)]
        image, labels = pair.image, pair.labels
        if self.copy_paste:  # drawn from torch's generator: seeded per run and per worker
            rng = np.random.default_rng(int(torch.randint(0, 2**31, ())))
            image, labels = self.copy_paste(pair, rng)
        if self.margin and self.resize_mode != "resize":  # crop mode: crops reach the border
            m = self.margin
            image = _pad(image, (m, m), (m, m), MIRROR)
            labels = _pad(labels, (m, m), (m, m), IGNORE_INDEX)
        if self.train:  # the augmentation too: seeded per run and per worker
            seed_augmentation(self.transform, int(torch.randint(0, 2**31, ())))
        out = self.transform(image=image, mask=labels)
        img, labels = out["image"], out["mask"]
        if img.ndim == 2:
            img = img[:, :, None]
        if self.margin and self.resize_mode == "resize":
            img, labels = self._cover(img, labels)
        elif self.output_size < self.input_size:
            m = self.margin
            labels = labels[m : m + self.output_size, m : m + self.output_size]
        x = torch.from_numpy(normalize(img, self.spec))
        y = torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64))
        w = torch.from_numpy(_weight_map(labels)) if self.weight_map else torch.zeros(0)
        return x, y, w

    def _cover(self, img: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The view mirror-padded to the input as inference pads it, the labels to the
        output (its pixels beyond the view ignored)."""
        tile = TrainTile(self.size, self.input_size, self.output_size)
        extra = self.output_size - self.size
        return tile.pad_view(img), _pad(labels, (0, extra), (0, extra), IGNORE_INDEX)


def _pad(a: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], how) -> np.ndarray:
    """``a`` (H x W or H x W x C) padded by ``rows`` and ``cols``: mirrored (``MIRROR``) or
    with a constant value."""
    widths = [rows, cols] + [(0, 0)] * (a.ndim - 2)
    if isinstance(how, str):
        return np.pad(a, widths, mode=how)
    return np.pad(a, widths, mode="constant", constant_values=how)


def _weight_map(labels: np.ndarray) -> np.ndarray:
    """The paper's weight map of the labels, 0 where they are ignored."""
    from segapp.ml.weightmap import unet_weight_map

    ignored = labels == IGNORE_INDEX
    if not ignored.any():
        return unet_weight_map(labels)
    weights = unet_weight_map(np.where(ignored, 0, labels))
    weights[ignored] = 0.0
    return weights
