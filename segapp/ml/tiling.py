"""Overlap-tile inference on numpy arrays, whatever runs the network (PyTorch or ONNX Runtime).

Tiles are cut from a mirror-padded image (as in the 2015 paper), so valid-convolution
networks cover the whole image, and overlapping tiles are blended with a linear ramp;
memory is bounded by the tile, not the image. No torch here: the window's model engine
proposes with ONNX Runtime, numpy and OpenCV alone (``onnx_predictor``), and
``infer.predict_tiled`` runs the same tiles through a PyTorch module.

A network's geometry is two methods, ``valid_input_size(n)`` and ``output_size(n)``: the
PyTorch modules have them, and :class:`NetGeometry` describes them without the module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from segapp.ml.letterbox import letterbox, unletterbox

Progress = Callable[[int, int], None]
RunTiles = Callable[[np.ndarray], np.ndarray]  # (N, C, h, w) input -> (N, K, h', w') probs

TILE, OVERLAP, BATCH = 1024, 64, 2  # the proposals' tiling (window, CLI, engine process)
MIRROR = "symmetric"  # np.pad's mirroring, edge pixel repeated (cv2.BORDER_REFLECT): the
# margin of a valid-convolution network's tile, in training (data.SegDataset) as here


class Geometry(Protocol):
    def valid_input_size(self, n: int) -> int: ...

    def output_size(self, n: int) -> int: ...


def valid_output(n: int, depth: int) -> int | None:
    """Output size of a valid-convolution U-Net for input n, or None if n is illegal."""
    s = n
    for _ in range(depth):
        s -= 4
        if s <= 0 or s % 2:
            return None
        s //= 2
    s -= 4
    for _ in range(depth):
        if s <= 0:
            return None
        s = 2 * s - 4
    return s if s > 0 else None


@dataclass(frozen=True)
class NetGeometry:
    """Padded networks: sizes are multiples of ``size_multiple``, output = input.
    Valid-convolution U-Nets (``valid_depth`` > 0): the 2015 paper's sizes."""

    size_multiple: int = 1
    valid_depth: int = 0

    def valid_input_size(self, n: int) -> int:
        """The smallest legal input size >= n along one axis."""
        m = max(int(n), 1)
        if not self.valid_depth:
            return -(-m // self.size_multiple) * self.size_multiple
        while valid_output(m, self.valid_depth) is None:
            m += 1
        return m

    def output_size(self, n: int) -> int:
        """Output size along one axis for a legal input size n (ValueError otherwise)."""
        if not self.valid_depth:
            if n <= 0 or n % self.size_multiple:
                raise ValueError(
                    f"input size {n} is not a positive multiple of {self.size_multiple}; "
                    f"use {self.valid_input_size(n)}"
                )
            return n
        out = valid_output(n, self.valid_depth)
        if out is None:
            raise ValueError(
                f"input size {n} is not legal for a valid-convolution U-Net of depth "
                f"{self.valid_depth}; use {self.valid_input_size(n)}"
            )
        return out


@dataclass
class TilePlan:
    """Where tiles go: output tile size, network input size, margin and start offsets."""

    out_tile: int
    in_tile: int
    margin: int
    ys: list[int]
    xs: list[int]


def plan_tiles(net: Geometry, height: int, width: int, tile: int, overlap: int) -> TilePlan:
    """Tile positions covering an image; a padded network on a small image gets one tile."""
    in_tile = net.valid_input_size(tile)
    out_tile = net.output_size(in_tile)
    margin = (in_tile - out_tile) // 2
    if margin == 0 and height <= out_tile and width <= out_tile:
        # one tile of the image's own (legal) size: no wasted pixels
        in_h, in_w = net.valid_input_size(height), net.valid_input_size(width)
        return TilePlan(max(in_h, in_w), max(in_h, in_w), 0, [0], [0])
    if margin > 0 and height <= out_tile and width <= out_tile:
        # valid convolutions: one tile, the smallest whose output covers the image
        in_tile = input_size_for_output(net, max(height, width))
        out_tile = net.output_size(in_tile)
        return TilePlan(out_tile, in_tile, (in_tile - out_tile) // 2, [0], [0])
    step = max(1, out_tile - overlap)

    def starts(n: int) -> list[int]:
        # as few tiles as cover n with at least `overlap` shared, spread evenly
        if n <= out_tile:
            return [0]
        count = -(-(n - overlap) // step)
        return [round(i * (n - out_tile) / (count - 1)) for i in range(count)]

    return TilePlan(out_tile, in_tile, margin, starts(height), starts(width))


@dataclass(frozen=True)
class TrainTile:
    """A training view's sizes: ``size`` px of image and labels, every pixel supervised.

    Padded networks take the view as it is (``input == output == size``). Valid-convolution
    networks take it mirror-padded by ``margin`` px, as :func:`tile_predict` pads an image
    (the 2015 paper's overlap-tile strategy), so their output (``output >= size``) covers
    the whole view, its border included.
    """

    size: int
    input: int
    output: int

    @property
    def margin(self) -> int:
        return (self.input - self.output) // 2

    def pad_view(self, view: np.ndarray) -> np.ndarray:
        """A ``size`` x ``size`` view (H x W [x C]) mirror-padded to the input as
        :func:`tile_predict` pads an image that size: the margin at the top and left, the
        rest at the bottom and right (the view itself when there is no margin)."""
        m, rest = self.margin, self.input - self.margin - self.size
        if not m and not rest:
            return view
        return np.pad(view, [(m, rest), (m, rest)] + [(0, 0)] * (view.ndim - 2), mode=MIRROR)


def train_tile(net: Geometry, size: int) -> TrainTile:
    """The sizes a network trains at for ``--size``: a padded network at the smallest legal
    size >= ``size``; a valid-convolution network at the smallest input whose output
    covers ``size`` (the same tile :func:`plan_tiles` gives a ``size`` x ``size`` image)."""
    n = net.valid_input_size(size)
    if net.output_size(n) == n:
        return TrainTile(n, n, n)
    n = input_size_for_output(net, size)
    return TrainTile(size, n, net.output_size(n))


def input_size_for_output(net: Geometry, n: int) -> int:
    """The smallest legal input size whose output is at least ``n`` along one axis."""
    size = net.valid_input_size(n)
    while net.output_size(size) < n:
        size = net.valid_input_size(size + n - net.output_size(size))
    return size


def _ramp(size: int, overlap: int) -> np.ndarray:
    ramp = np.ones(size, np.float32)
    overlap = min(overlap, size // 2)
    if overlap > 0:
        r = np.linspace(1.0 / (overlap + 1), 1.0, overlap, dtype=np.float32)
        ramp[:overlap] = r
        ramp[size - overlap :] = np.minimum(ramp[size - overlap :], r[::-1])
    return ramp


def _tile_span(net: Geometry, plan: TilePlan, n: int, starts: list[int]) -> int:
    """A tile's input extent along one axis: a padded network's one tile across a thin image
    is the image's own legal size (a 1 x 100000 strip is not cut into 1024 x 1024 tiles)."""
    if plan.margin == 0 and len(starts) == 1 and n < plan.out_tile:
        return net.valid_input_size(n)
    return plan.in_tile


def tile_predict(
    run: RunTiles,
    net: Geometry,
    x: np.ndarray,
    tile: int = 512,
    overlap: int = 32,
    batch: int = 4,
    progress: Progress | None = None,
) -> np.ndarray:
    """Probabilities (K, H, W) for a normalised (C, H, W) input; ``run`` maps a batch of
    tiles to their probabilities."""
    _, height, width = x.shape
    plan = plan_tiles(net, height, width, tile, overlap)
    m = plan.margin
    if len(plan.ys) == 1 and len(plan.xs) == 1 and m == 0:
        in_h, in_w = net.valid_input_size(height), net.valid_input_size(width)
        padded = np.pad(x, ((0, 0), (0, in_h - height), (0, in_w - width)), mode="reflect")
        probs = run(padded[None])[0, :, :height, :width]
        if progress:
            progress(1, 1)
        return np.ascontiguousarray(probs)
    in_h, in_w = _tile_span(net, plan, height, plan.ys), _tile_span(net, plan, width, plan.xs)
    # mirror padding: margin on top/left, enough on bottom/right for the last tile
    pad_b = plan.ys[-1] + in_h - m - height
    pad_r = plan.xs[-1] + in_w - m - width
    padded = np.pad(x, ((0, 0), (m, max(pad_b, 0)), (m, max(pad_r, 0))), mode=MIRROR)
    eff_overlap = overlap if len(plan.ys) > 1 or len(plan.xs) > 1 else 0
    out_h, out_w = in_h - 2 * m, in_w - 2 * m
    window = np.outer(_ramp(out_h, eff_overlap), _ramp(out_w, eff_overlap))
    acc = None
    weight = np.zeros((height, width), np.float32)
    positions = [(y, x0) for y in plan.ys for x0 in plan.xs]
    for i in range(0, len(positions), batch):
        chunk = positions[i : i + batch]
        tiles = np.stack([padded[:, y : y + in_h, x0 : x0 + in_w] for y, x0 in chunk])
        probs = run(tiles)
        if acc is None:
            acc = np.zeros((probs.shape[1], height, width), np.float32)
        for (y, x0), p in zip(chunk, probs, strict=True):
            h, w = min(out_h, height - y), min(out_w, width - x0)
            win = window[:h, :w]
            acc[:, y : y + h, x0 : x0 + w] += p[:, :h, :w] * win
            weight[y : y + h, x0 : x0 + w] += win
        if progress:
            progress(min(i + batch, len(positions)), len(positions))
    return acc / weight


def predict_resized(
    image: np.ndarray,
    resize_to: int | None,
    to_input: Callable[[np.ndarray], np.ndarray],
    run: Callable[[np.ndarray], np.ndarray],
    keep_aspect: bool = False,
    mirror: bool = False,
) -> np.ndarray:
    """Probabilities (K, H, W) at the image's own size: the image brought to ``resize_to``
    first when the model was trained so (letterboxed with ``keep_aspect``, else squashed),
    ``to_input`` (HxWxC -> CxHxW) then ``run``; with ``mirror`` (``resize`` mode only),
    averaged with the pass over the left-right mirrored input (``mirrors``)."""
    if not resize_to:
        return run(to_input(image))
    square, box = letterbox(image, resize_to, cv2.INTER_AREA, keep_aspect)
    x = to_input(square)
    probs = run(x)
    if mirror:
        probs = (probs + run(np.ascontiguousarray(x[..., ::-1]))[..., ::-1]) / 2
    return unletterbox(probs, box, *image.shape[:2])


def mirrors(train_config: dict) -> bool:
    """Whether a checkpoint's proposals average the left-right mirrored pass: ``resize``
    mode (a pass over the whole image at the training size; crop-mode images can be
    4096 px and up) with mirrored training views (every ``--augment`` but ``none``). On the
    loop's versions it lifted human-segmentation's unseen street scenes by 0.008, for 0.11-0.16 s
    more a proposal on a 2-core CPU (docs/first-rounds.md)."""
    return bool(resize_target(train_config)) and train_config.get("augment") != "none"


def resize_target(train_config: dict) -> int | None:
    """The size a checkpoint trained in ``resize`` mode brings every image to, else None."""
    return train_config.get("size") if train_config.get("resize_mode") == "resize" else None


def keeps_aspect(train_config: dict) -> bool:
    """Whether a ``resize``-mode checkpoint saw its images letterboxed (``keep_aspect``);
    otherwise, as in checkpoints from before the option, they were squashed."""
    return bool(resize_target(train_config)) and bool(train_config.get("keep_aspect", False))


def activate(logits: np.ndarray) -> np.ndarray:
    """Logits (N, K, H, W) -> probabilities: sigmoid for one channel, else softmax."""
    logits = logits.astype(np.float32, copy=False)
    if logits.shape[1] == 1:
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-logits))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def probs_to_labels(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(1, H, W) foreground probability or (K, H, W) class probabilities -> HxW uint8 labels."""
    if probs.shape[0] == 1:
        return (probs[0] > threshold).astype(np.uint8)
    return probs.argmax(axis=0).astype(np.uint8)
