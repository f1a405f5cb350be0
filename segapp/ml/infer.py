"""Inference: whole image when it fits, overlap-tile otherwise, any image size and aspect.

Tiles are cut from a mirror-padded image (as in the 2015 paper), so valid-convolution
networks cover the whole image, and overlapping tiles are blended with a linear ramp.
Network memory is bounded by the tile, not the image.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from segapp.ml.checkpoint import LoadedModel
from segapp.ml.device import describe_device, empty_cache, is_out_of_memory
from segapp.ml.preprocess import to_model_input
from segapp.ml.spec import ModelError, ModelSpec

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class TilePlan:
    """Where tiles go: output tile size, network input size, margin and start offsets."""

    out_tile: int
    in_tile: int
    margin: int
    ys: list[int]
    xs: list[int]


def plan_tiles(
    model: torch.nn.Module, height: int, width: int, tile: int, overlap: int
) -> TilePlan:
    """Tile positions covering an image; a padded network on a small image gets one tile."""
    in_tile = model.valid_input_size(tile)
    out_tile = model.output_size(in_tile)
    margin = (in_tile - out_tile) // 2
    if margin == 0 and height <= out_tile and width <= out_tile:
        # one tile of the image's own (legal) size: no wasted pixels
        in_h, in_w = model.valid_input_size(height), model.valid_input_size(width)
        return TilePlan(max(in_h, in_w), max(in_h, in_w), 0, [0], [0])
    if margin > 0 and height <= out_tile and width <= out_tile:
        # valid convolutions: one tile, the smallest whose output covers the image
        in_tile = input_size_for_output(model, max(height, width))
        out_tile = model.output_size(in_tile)
        return TilePlan(out_tile, in_tile, (in_tile - out_tile) // 2, [0], [0])
    step = max(1, out_tile - overlap)

    def starts(n: int) -> list[int]:
        # as few tiles as cover n with at least `overlap` shared, spread evenly
        if n <= out_tile:
            return [0]
        count = -(-(n - overlap) // step)
        return [round(i * (n - out_tile) / (count - 1)) for i in range(count)]

    return TilePlan(out_tile, in_tile, margin, starts(height), starts(width))


def input_size_for_output(model: torch.nn.Module, n: int) -> int:
    """The smallest legal input size whose output is at least ``n`` along one axis."""
    size = model.valid_input_size(n)
    while model.output_size(size) < n:
        size = model.valid_input_size(size + n - model.output_size(size))
    return size


def _blend_window(size: int, overlap: int) -> np.ndarray:
    ramp = np.ones(size, np.float32)
    if overlap > 0:
        r = np.linspace(1.0 / (overlap + 1), 1.0, overlap, dtype=np.float32)
        ramp[:overlap] = r
        ramp[size - overlap :] = np.minimum(ramp[size - overlap :], r[::-1])
    return np.outer(ramp, ramp)


def _activate(logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


@torch.inference_mode()
def predict_tiled(
    model: torch.nn.Module,
    x: np.ndarray,
    device: torch.device,
    tile: int = 512,
    overlap: int = 32,
    batch: int = 4,
    channels_last: bool = False,
    progress: Progress | None = None,
) -> np.ndarray:
    """Probabilities (K, H, W) for a normalised (C, H, W) input. K = output channels."""
    _, height, width = x.shape
    plan = plan_tiles(model, height, width, tile, overlap)
    m = plan.margin
    if len(plan.ys) == 1 and len(plan.xs) == 1 and m == 0:
        in_h, in_w = model.valid_input_size(height), model.valid_input_size(width)
        padded = np.pad(x, ((0, 0), (0, in_h - height), (0, in_w - width)), mode="reflect")
        t = torch.from_numpy(padded)[None].to(device)
        if channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        probs = _activate(model(t).float())[0, :, :height, :width]
        if progress:
            progress(1, 1)
        return probs.cpu().numpy()
    # mirror padding: margin on top/left, enough on bottom/right for the last tile
    pad_b = plan.ys[-1] + plan.in_tile - m - height
    pad_r = plan.xs[-1] + plan.in_tile - m - width
    padded = np.pad(x, ((0, 0), (m, max(pad_b, 0)), (m, max(pad_r, 0))), mode="symmetric")
    eff_overlap = overlap if len(plan.ys) > 1 or len(plan.xs) > 1 else 0
    window = _blend_window(plan.out_tile, min(eff_overlap, plan.out_tile // 2))
    acc = None
    weight = np.zeros((height, width), np.float32)
    positions = [(y, x0) for y in plan.ys for x0 in plan.xs]
    for i in range(0, len(positions), batch):
        chunk = positions[i : i + batch]
        tiles = np.stack(
            [padded[:, y : y + plan.in_tile, x0 : x0 + plan.in_tile] for y, x0 in chunk]
        )
        t = torch.from_numpy(tiles).to(device)
        if channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        probs = _activate(model(t).float()).cpu().numpy()
        if acc is None:
            acc = np.zeros((probs.shape[1], height, width), np.float32)
        for (y, x0), p in zip(chunk, probs, strict=True):
            h, w = min(plan.out_tile, height - y), min(plan.out_tile, width - x0)
            win = window[:h, :w]
            acc[:, y : y + h, x0 : x0 + w] += p[:, :h, :w] * win
            weight[y : y + h, x0 : x0 + w] += win
        if progress:
            progress(min(i + batch, len(positions)), len(positions))
    return acc / weight


def probs_to_labels(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(1, H, W) foreground probability or (K, H, W) class probabilities -> HxW uint8 labels."""
    if probs.shape[0] == 1:
        return (probs[0] > threshold).astype(np.uint8)
    return probs.argmax(axis=0).astype(np.uint8)


class Predictor:
    """A model ready to propose masks: preprocessing, resizing, tiling and device fallback.

    ``backend``: ``auto`` (default; also from $SEGAPP_BACKEND) runs on ONNX Runtime on the
    CPU, the fastest path measured there with the same masks, and on PyTorch elsewhere;
    ``torch`` or ``onnx`` force one. ``onnx_export="background"`` (the window) exports a
    model not yet cached in a child process and predicts with PyTorch until it is ready.
    A CUDA out-of-memory error retries with smaller tiles, then falls back to the CPU and
    leaves a message in ``fallback_message`` for the caller to show.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        device: torch.device | str = "cpu",
        tile: int = 1024,
        overlap: int = 64,
        batch: int = 2,
        channels_last: bool | None = None,
        resize_to: int | None = None,
        backend: str | None = None,
        onnx_export: str = "inline",
    ):
        self.loaded = loaded
        self.spec: ModelSpec = loaded.spec
        self.device = torch.device(device)
        self.model = loaded.model.to(self.device).eval()
        self.tile, self.overlap, self.batch = tile, overlap, batch
        self.backend = "torch"
        self._export = None  # a running onnx_backend.BackgroundExport
        self._background = onnx_export == "background"
        backend = backend or os.environ.get("SEGAPP_BACKEND", "auto")
        if self.device.type == "cpu" and backend in ("auto", "onnx"):
            self._try_onnx(required=backend == "onnx")
        if channels_last is None:
            channels_last = self.device.type in ("cuda", "cpu")
        self.channels_last = channels_last and self.backend == "torch"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        train = loaded.train_config
        if resize_to is None and train.get("resize_mode") == "resize":
            resize_to = train.get("size")
        self.resize_to = resize_to
        self.fallback_message: str | None = None

    def _try_onnx(self, required: bool) -> None:
        """Run on ONNX Runtime (the fastest CPU path measured) when it is installed."""
        from segapp.ml import onnx_backend

        if not onnx_backend.available():
            if required:
                raise ModelError("the ONNX backend needs onnxruntime: pip install onnxruntime onnx")
            return
        path = onnx_backend.cached_path(self.model, self.spec)
        if self._background and not required:
            if onnx_backend.BackgroundExport.failed_before(path):
                return
            if not path.exists():
                try:
                    self._export = onnx_backend.BackgroundExport(self.model, self.spec, path)
                except OSError as e:
                    log.warning("cannot start the ONNX export (%s); using PyTorch", e)
                return
        try:
            self.model = onnx_backend.OnnxNet(self.model, self.spec, path=path)
            self.backend = "onnx"
        except Exception as e:  # noqa: BLE001 - any export problem: stay on PyTorch
            if required:
                raise ModelError(f"cannot run this model on ONNX Runtime ({e})") from e
            log.warning("ONNX Runtime unavailable for this model (%s); using PyTorch", e)

    @property
    def device_name(self) -> str:
        return describe_device(self.device)

    def predict(self, image: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """Probabilities (K, H, W) at the image's own size."""
        height, width = image.shape[:2]
        img = image
        if self.resize_to:
            img = cv2.resize(image, (self.resize_to, self.resize_to), interpolation=cv2.INTER_AREA)
        x = to_model_input(img, self.spec)
        probs = self._run(x, progress)
        if self.resize_to and probs.shape[1:] != (height, width):
            probs = np.stack(
                [cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR) for p in probs]
            )
        return probs

    def predict_labels(
        self, image: np.ndarray, threshold: float = 0.5, progress: Progress | None = None
    ) -> np.ndarray:
        return probs_to_labels(self.predict(image, progress), threshold)

    def _switch_when_exported(self) -> None:
        if self._export is not None and self._export.done():
            ok, self._export = self._export.ok, None
            if ok and self.device.type == "cpu":
                self._try_onnx(required=False)  # the export is cached now: loads it
                if self.backend == "onnx":
                    self.channels_last = False
                    log.info("proposals now run on ONNX Runtime")

    def _run(self, x: np.ndarray, progress: Progress | None) -> np.ndarray:
        self._switch_when_exported()
        tile = self.tile
        while True:
            try:
                return predict_tiled(
                    self.model,
                    x,
                    self.device,
                    tile,
                    self.overlap,
                    self.batch,
                    self.channels_last,
                    progress,
                )
            except Exception as e:  # noqa: BLE001 - only out-of-memory is handled
                if not is_out_of_memory(e) or self.device.type == "cpu":
                    raise
                empty_cache(self.device)
                if tile > 128:
                    tile //= 2
                    log.warning("out of memory on %s; retrying with %d px tiles", self.device, tile)
                    continue
                self.fallback_message = f"the GPU ({self.device}) ran out of memory; running on the CPU instead (slower)"
                log.warning(self.fallback_message)
                self.device = torch.device("cpu")
                self.model = self.model.to(self.device)
                tile = self.tile
