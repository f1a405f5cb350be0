"""Inference: whole image when it fits, overlap-tile otherwise, any image size and aspect.

The tiling itself (mirror padding, blended overlapping tiles, memory bounded by the tile) is
:mod:`segapp.ml.tiling`, shared with the torch-free ONNX path of the window's engine; here
it runs a PyTorch module, or ONNX Runtime through ``onnx_backend.OnnxNet``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from segapp.ml import proposal_refine
from segapp.ml.checkpoint import LoadedModel
from segapp.ml.device import describe_device, empty_cache, is_out_of_memory
from segapp.ml.preprocess import image_input, to_model_input
from segapp.ml.proposal_refine import proposal_labels
from segapp.ml.spec import ModelError, ModelSpec
from segapp.ml.tiling import (  # noqa: F401 - plan_tiles and the rest: their old home
    BATCH,
    OVERLAP,
    TILE,
    Progress,
    TilePlan,
    input_size_for_output,
    keeps_aspect,
    mirrors,
    plan_tiles,
    predict_resized,
    probs_to_labels,
    resize_target,
    tile_predict,
)

log = logging.getLogger(__name__)


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

    def run(tiles: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(tiles).to(device)
        if channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        return _activate(model(t).float()).cpu().numpy()

    return tile_predict(run, model, x, tile, overlap, batch, progress)


class Predictor:
    """A model ready to propose masks: preprocessing, resizing, tiling and device fallback.

    ``backend``: ``auto`` (default; also from $SEGAPP_BACKEND) runs on ONNX Runtime on the
    CPU, the fastest path measured there with the same masks, and on PyTorch elsewhere;
    ``torch`` or ``onnx`` force one. ``onnx_export="background"`` (the window) exports a
    model not yet cached in a child process and predicts with PyTorch until it is ready;
    ``onnx_path``: where that export is cached (default: a hash of spec and weights).
    A CUDA out-of-memory error retries with smaller tiles, then falls back to the CPU and
    leaves a message in ``fallback_message`` for the caller to show.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        device: torch.device | str = "cpu",
        tile: int = TILE,
        overlap: int = OVERLAP,
        batch: int = BATCH,
        channels_last: bool | None = None,
        resize_to: int | None = None,
        keep_aspect: bool | None = None,
        backend: str | None = None,
        onnx_export: str = "inline",
        onnx_path: Path | None = None,
        refine: str | None = None,
        mirror: bool | None = None,
    ):
        self.loaded = loaded
        self.spec: ModelSpec = loaded.spec
        self.device = torch.device(device)
        self.model = loaded.model.to(self.device).eval()
        self.tile, self.overlap, self.batch = tile, overlap, batch
        self.backend = "torch"
        self._export = None  # a running onnx_backend.BackgroundExport
        self._background = onnx_export == "background"
        self._onnx_path = onnx_path
        backend = backend or os.environ.get("SEGAPP_BACKEND", "auto")
        if self.device.type == "cpu" and backend in ("auto", "onnx"):
            self._try_onnx(required=backend == "onnx")
        if channels_last is None:
            channels_last = self.device.type in ("cuda", "cpu")
        self.channels_last = channels_last and self.backend == "torch"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        train = loaded.train_config
        self.resize_to = resize_to if resize_to is not None else resize_target(train)
        self.keep_aspect = keeps_aspect(train) if keep_aspect is None else keep_aspect
        # the mirrored pass averaged in (tiling.mirrors): the checkpoint's training decides
        self.mirror = mirrors(train) if mirror is None else mirror and bool(self.resize_to)
        # how predict_labels refines a proposal: the checkpoint's choice unless told
        self.refine = refine or proposal_refine.method_of(loaded.config)
        self.closer_look = True  # a refining model's closer look (proposal_probs); off: measuring
        self.fallback_message: str | None = None

    def _try_onnx(self, required: bool) -> None:
        """Run on ONNX Runtime (the fastest CPU path measured) when it is installed."""
        from segapp.ml import onnx_backend

        if not onnx_backend.available():
            if required:
                raise ModelError("the ONNX backend needs onnxruntime: pip install onnxruntime onnx")
            return
        path = self._onnx_path or onnx_backend.cached_path(self.model, self.spec)
        if self._background and not required:
            if onnx_backend.BackgroundExport.failed_before(path):
                return
            if not path.exists():
                try:
                    self._export = onnx_backend.BackgroundExport(
                        self.model, self.spec, path, meta=self._onnx_path is not None
                    )
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

    def predict(
        self, image: np.ndarray, progress: Progress | None = None, mirror: bool | None = None
    ) -> np.ndarray:
        """Probabilities (K, H, W) at the image's own size (``mirror``: average the mirrored
        pass in; default: ``self.mirror``)."""
        return predict_resized(
            image,
            self.resize_to,
            lambda img: to_model_input(img, self.spec),
            lambda x: self._run(x, progress),
            self.keep_aspect,
            self.mirror if mirror is None else mirror,
        )

    @property
    def click_channels(self) -> int:
        return self.spec.click_channels

    def image_input(self, img: np.ndarray) -> np.ndarray:
        """The image's normalised CxHxW channels of the network input."""
        return image_input(img, self.spec)

    def run_input(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (K, H, W) of a complete network input (click channels included)."""
        return self._run(x, None)

    def predict_labels(
        self, image: np.ndarray, threshold: float = 0.5, progress: Progress | None = None
    ) -> np.ndarray:
        """The proposal: labels of the probabilities, refined as ``self.refine`` says."""
        return self.to_labels(image, self.propose(image, progress), threshold)

    def propose(self, image: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """The probabilities (K, H, W) a proposal is made from (``predict``, with a refining
        model's closer look: ``proposal_refine.proposal_probs``)."""
        return proposal_refine.proposal_probs(
            lambda img: self.predict(img, progress),
            image,
            self.refine,
            bool(self.resize_to),
            self.closer_look,
        )

    def to_labels(self, image: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Labels of ``image``'s probabilities, refined as ``self.refine`` says."""
        return proposal_labels(image, probs, threshold, self.refine)

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


def torch_predictor(model_ref: str | Path, device: str = "auto") -> Predictor:
    """A checkpoint folder's Predictor on PyTorch, on ``device`` ("auto": a GPU when there is
    one): the readings that rank or compare many images (``uncertainty``, ``agreement``)."""
    from segapp.ml.checkpoint import load_model
    from segapp.ml.device import resolve_device

    dev = resolve_device(device)
    return Predictor(load_model(model_ref, dev), dev, backend="torch")
