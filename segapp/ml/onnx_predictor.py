"""Proposals from a cached ONNX export with ONNX Runtime, numpy and OpenCV only (no torch).

The window's model engine (``engine_server``) proposes on the CPU without importing torch,
smp or timm once a checkpoint folder has an export here: the cache holds, per checkpoint
(a hash of its spec and weights file, so a copied project keeps it), ``ckpt-<key>.onnx``
and ``ckpt-<key>.json`` with what preparing the input needs (mean, std, channels, sizes).
The export itself needs PyTorch: ``onnx_backend`` writes both files, the JSON last, once
ONNX Runtime agreed with PyTorch on a probe input. Without them, the engine imports torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from segapp.core.imageio import write_bytes_atomic
from segapp.ml.preprocess import match_channels, normalize_with, with_click_channels
from segapp.ml.spec import ModelError
from segapp.ml.tiling import (
    BATCH,
    OVERLAP,
    TILE,
    NetGeometry,
    activate,
    keeps_aspect,
    mirrors,
    predict_resized,
    resize_target,
)
from segapp.ml.tiling import tile_predict as _tile_predict

log = logging.getLogger(__name__)

META_FORMAT = 1
# ONNX Runtime's probabilities differ from PyTorch's by no more than this (the README's
# figure; the tests hold both backends to it, benchmarks/bench_predict.py measures it)
PROBABILITY_TOLERANCE = 1e-4
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"  # as checkpoint.py (torch)


def available() -> bool:
    """True when ONNX Runtime is installed."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    """Where ONNX exports are cached: $SEGAPP_CACHE, $XDG_CACHE_HOME or ~/.cache, + segapp/onnx."""
    base = (
        os.environ.get("SEGAPP_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    )
    return Path(base) / "segapp" / "onnx"


def num_threads() -> int:
    """CPU threads for inference: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def read_checkpoint_config(folder: Path) -> dict[str, Any]:
    """A checkpoint folder's config.json (ModelError when it is no trained model folder)."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ModelError(
            f"{folder} is no trained model folder (an untrained preset proposes noise); "
            "proposals need a trained model folder"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable checkpoint config ({e})") from e
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ModelError(f"{path}: no valid 'model' section")
    return config


def checkpoint_key(folder: Path, config: dict[str, Any]) -> str:
    """A hash of the checkpoint's spec and weights file (its export's name in the cache)."""
    h = hashlib.sha256(json.dumps(config["model"], sort_keys=True).encode())
    try:
        with open(Path(folder) / WEIGHTS_FILE, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    except OSError as e:
        raise ModelError(f"{folder}: cannot read {WEIGHTS_FILE} ({e.strerror or e})") from e
    return h.hexdigest()[:24]


def export_path(folder: Path, config: dict[str, Any]) -> Path:
    """Where the ONNX export of this checkpoint is (or will be) cached."""
    return cache_dir() / f"ckpt-{checkpoint_key(folder, config)}.onnx"


def meta_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".json")


def write_meta(onnx_path: Path, meta: dict[str, Any]) -> None:
    """Record what the export's input needs; from then on it proposes without torch."""
    data = {"format": META_FORMAT} | meta
    write_bytes_atomic(meta_path(onnx_path), json.dumps(data, indent=1).encode())


def read_meta(onnx_path: Path) -> dict[str, Any] | None:
    """The export's metadata when the export is complete and usable here, else None."""
    try:
        meta = json.loads(meta_path(onnx_path).read_text())
    except (OSError, ValueError):
        return None
    if not onnx_path.is_file() or not isinstance(meta, dict):
        return None
    if meta.get("format") != META_FORMAT:
        return None
    return meta


class OnnxPredictor:
    """The :class:`~segapp.ml.infer.Predictor` of a cached export, without PyTorch.

    Same steps and figures: resize in ``resize`` mode, normalise, overlap-tile, sigmoid or
    softmax. ``backend`` and ``device_name`` mirror the PyTorch predictor's.
    """

    backend = "onnx"
    fallback_message: str | None = None

    def __init__(
        self,
        onnx_path: Path,
        meta: dict[str, Any],
        resize_to: int | None = None,
        keep_aspect: bool = False,
        tile: int = TILE,
        overlap: int = OVERLAP,
        batch: int = BATCH,
        threads: int | None = None,
        mirror: bool = False,
    ) -> None:
        import onnxruntime as ort

        self.in_channels = int(meta["in_channels"])
        self.click_channels = int(meta.get("click_channels", 0))
        self.mean = np.asarray(meta["mean"], np.float32)
        self.std = np.asarray(meta["std"], np.float32)
        self.geometry = NetGeometry(int(meta["size_multiple"]), int(meta["valid_depth"]))
        self.resize_to = resize_to
        self.keep_aspect = keep_aspect
        self.mirror = mirror and bool(resize_to)  # the mirrored pass averaged in (tiling.mirrors)
        self.tile, self.overlap, self.batch = tile, overlap, batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.device_name = f"CPU ({options.intra_op_num_threads} threads)"

    def image_input(self, img: np.ndarray) -> np.ndarray:
        """The image's normalised CxHxW channels of the network input."""
        return normalize_with(match_channels(img, self.in_channels), self.mean, self.std)

    def _input(self, img: np.ndarray) -> np.ndarray:
        return with_click_channels(self.image_input(img), self.click_channels)

    def run_input(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (K, H, W) of a complete network input (click channels included)."""
        return _tile_predict(self._probs, self.geometry, x, self.tile, self.overlap, self.batch)

    def _probs(self, tiles: np.ndarray) -> np.ndarray:
        return activate(self.session.run(None, {"x": np.ascontiguousarray(tiles)})[0])

    def predict(self, image: np.ndarray, mirror: bool | None = None) -> np.ndarray:
        """Probabilities (K, H, W) at the image's own size (``mirror``: as ``Predictor``'s)."""
        mirror = self.mirror if mirror is None else mirror
        return predict_resized(
            image, self.resize_to, self._input, self.run_input, self.keep_aspect, mirror
        )


def for_checkpoint(onnx_path: Path, meta: dict[str, Any], train: dict[str, Any]) -> OnnxPredictor:
    """The predictor of a checkpoint's cached export, making proposals as the checkpoint's
    training says (its size and mode, letterboxed or not, with the mirrored pass or not)."""
    return OnnxPredictor(
        onnx_path,
        meta,
        resize_target(train),
        keep_aspect=keeps_aspect(train),
        mirror=mirrors(train),
    )
