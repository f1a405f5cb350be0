"""The model engine itself: device, model cache, proposals and click refinement, no pipes.

:class:`Engine` is what the window's engine process (:mod:`segapp.ml.engine_server`) answers
with, what a job process (:mod:`segapp.ml.jobs`) reads many images with, and what tests drive
directly. On the CPU a checkpoint with a cached ONNX export proposes with ONNX Runtime,
numpy and OpenCV alone; torch is imported only when a model needs it (see the server's
docstring).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segapp.core.clicks import Click
from segapp.ml import onnx_predictor as onnx
from segapp.ml import proposal_refine
from segapp.ml.interactive import NO_MODEL_NAME, Refiner
from segapp.ml.proposal_refine import proposal_labels, proposal_probs
from segapp.ml.spec import ModelError, ModelSpec

log = logging.getLogger(__name__)

MODEL_CACHE_SIZE = 2
Notify = Callable[[dict[str, Any]], None]


def gpu_likely() -> bool:
    """A guess without torch: is there a GPU that torch could use (then torch is loaded)?"""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    if sys.platform == "darwin":
        return platform.machine() == "arm64"  # Apple MPS
    if sys.platform.startswith("linux"):
        return any(Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl"))
    return sys.platform == "win32" and shutil.which("nvidia-smi") is not None


def _weights_stamp(folder: Path) -> int:
    """Changes when a checkpoint folder's weights are rewritten (a reused version name)."""
    try:
        return (folder / onnx.WEIGHTS_FILE).stat().st_mtime_ns
    except OSError:
        return 0


class ClassCountError(ModelError):
    """A model made for another number of classes than the project has now."""


@dataclass
class _Model:
    predictor: Any  # infer.Predictor or onnx_predictor.OnnxPredictor
    loaded: Any = None  # checkpoint.LoadedModel, when PyTorch built it
    onnx_path: Path | None = None  # its export's place in the cache, metadata still to write
    refine: str = "none"  # how its proposals are refined (proposal_refine.method_of)


class Engine:
    """Device, model cache and proposals (no pipes: the tests drive it directly)."""

    def __init__(
        self, device_request: str = "auto", backend: str | None = None, export: bool = True
    ) -> None:
        self.device_request = (device_request or "auto").lower()
        self.backend = backend or os.environ.get("SEGAPP_BACKEND", "auto")
        # a model without a cached ONNX export starts one (the window's engine); off: a
        # short-lived job process (segapp.ml.jobs) uses a cached export, else PyTorch
        self.export = export
        self.device = None  # a torch.device once torch is loaded; None: the CPU without torch
        self.builds = 0  # models built so far (the cache's hits are not counted)
        self._ml: dict[str, Any] | None = None
        self._models: OrderedDict[tuple, _Model] = OrderedDict()
        self._image: tuple[str, np.ndarray] | None = None  # (key, image) clicks refine
        self._refiner: tuple[Any, tuple, Refiner] | None = None  # (predictor, key, refiner)
        # the last proposal (model, image, probabilities): the first click on that image
        # starts from them instead of running the network (twice, with a closer look) again
        self._proposed: tuple[_Model, np.ndarray, np.ndarray] | None = None
        if self.device_request != "cpu" and (self.device_request != "auto" or gpu_likely()):
            self._torch()

    @property
    def device_name(self) -> str:
        if self.device is None:
            return f"CPU ({onnx.num_threads()} threads)"
        return self._ml["device"].describe_device(self.device)

    @property
    def onnx_only(self) -> bool:
        """Proposals from cached exports, without torch (the CPU and ONNX Runtime)."""
        cpu = self.device is None or self.device.type == "cpu"
        return cpu and self.backend != "torch" and onnx.available()

    def _torch(self) -> dict[str, Any]:
        """torch and the modules that need it, imported on first need."""
        if self._ml is None:
            t0 = time.perf_counter()
            import torch

            from segapp.ml import checkpoint, device, infer, onnx_backend

            self._ml = {"torch": torch, "checkpoint": checkpoint, "device": device}
            self._ml |= {"infer": infer, "onnx_backend": onnx_backend}
            self.device = device.resolve_device(self.device_request)
            log.info("PyTorch loaded in %.2f s (%s)", time.perf_counter() - t0, self.device_name)
        return self._ml

    # ------------------------------------------------------------------ models
    def _model(self, model_ref: str, classes: int, notify: Notify) -> _Model:
        folder = Path(model_ref)
        config = onnx.read_checkpoint_config(folder)
        spec = ModelSpec.from_dict(config["model"])
        if spec.out_classes != max(2, classes):
            raise ClassCountError(
                f"{folder.name} predicts {spec.out_classes} classes but this project has "
                f"{classes}; choose another model or train one on this project"
            )
        key = (str(folder), classes, _weights_stamp(folder))
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        path = onnx.export_path(folder, config) if self.onnx_only else None
        meta = onnx.read_meta(path) if path is not None else None
        if meta is not None:
            train = config.get("train", {})
            model = _Model(onnx.for_checkpoint(path, meta, train))
            log.info("%s proposes from its ONNX export (no PyTorch)", folder.name)
        else:
            model = self._torch_model(folder, config, classes, notify)
        model.refine = proposal_refine.method_of(config)
        self.builds += 1
        self._models[key] = model
        while len(self._models) > MODEL_CACHE_SIZE:
            self._models.popitem(last=False)
        return model

    def _torch_model(self, folder: Path, config: dict, classes: int, notify: Notify) -> _Model:
        before = self.device_name
        ml = self._torch()
        if self.device_name != before:  # a GPU that the guess without torch missed
            notify({"event": "device", "device": self.device_name})
        out_classes = 1 if classes == 2 else classes
        loaded = ml["checkpoint"].load_model(str(folder), "cpu", classes=out_classes)
        if not self.export:
            return _Model(ml["infer"].Predictor(loaded, self.device, backend="torch"), loaded)
        while True:
            path = onnx.export_path(folder, config) if self.onnx_only else None
            try:
                predictor = ml["infer"].Predictor(
                    loaded,
                    self.device,
                    backend=self.backend,
                    onnx_export="background",
                    onnx_path=path,
                )
            except Exception as e:  # noqa: BLE001 - a broken GPU falls back to the CPU
                if self.device.type == "cpu":
                    raise
                text = f"{self.device_name} failed ({e}); proposing on the CPU instead (slower)"
                notify({"event": "message", "text": text})
                self.device = ml["torch"].device("cpu")
                notify({"event": "device", "device": self.device_name})
                continue
            return _Model(predictor, loaded, path)

    def _complete_export(self, model: _Model) -> None:
        """Once PyTorch's predictor runs its export, record the export's metadata."""
        if model.onnx_path is None or model.predictor.backend != "onnx":
            return
        if onnx.read_meta(model.onnx_path) is None:
            meta = self._torch()["onnx_backend"].export_meta(model.loaded.model, model.loaded.spec)
            onnx.write_meta(model.onnx_path, meta)
            log.info("%s: the next sessions propose without PyTorch", model.onnx_path.name)
        model.onnx_path = None

    # ------------------------------------------------------------------ requests
    def prepare(self, model_ref: str, classes: int, notify: Notify | None = None) -> None:
        """Build the model now (the person chose it): the first proposal need not wait."""
        self._model(model_ref, classes, notify or (lambda event: None))

    def predict(
        self,
        model_ref: str,
        classes: int,
        image: np.ndarray,
        threshold: float = 0.5,
        notify: Notify | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, probabilities) of ``image`` with a trained checkpoint folder."""
        notify = notify or (lambda event: None)
        model = self._model(model_ref, classes, notify)
        predictor = model.predictor
        probs = proposal_probs(predictor.predict, image, model.refine, bool(predictor.resize_to))
        if model.predictor.fallback_message:
            notify({"event": "message", "text": model.predictor.fallback_message})
            notify({"event": "device", "device": model.predictor.device_name})
            model.predictor.fallback_message = None
        self._complete_export(model)
        self._proposed = (model, image, probs)
        return proposal_labels(image, probs, threshold, model.refine), probs

    def read(
        self, model_ref: str, classes: int, image: np.ndarray, notify: Notify | None = None
    ) -> np.ndarray:
        """One plain pass of the network over ``image`` (no mirrored pass, no closer look, no
        refinement): probabilities to rank images by (``uncertainty``)."""
        model = self._model(model_ref, classes, notify or (lambda event: None))
        return model.predictor.predict(image, mirror=False)

    def refine(
        self,
        model_ref: str,
        classes: int,
        image_key: str,
        image: np.ndarray | None,
        prev: np.ndarray,
        clicks: list[Click],
        class_value: int = 1,
        threshold: float = 0.5,
        notify: Notify | None = None,
    ) -> tuple[np.ndarray, tuple[int, int, int, int], Refiner] | None:
        """(new mask in the window, the window, the refiner), or None when the image of
        ``image_key`` is not here (send it)."""
        if image is not None:
            self._image = (image_key, self._as_proposed(image))
        elif self._image is None or self._image[0] != image_key:
            return None
        image = self._image[1]
        if prev.shape != image.shape[:2]:
            raise ValueError(f"mask {prev.shape} and image {image.shape[:2]} differ in size")
        model, unfit = None, ""
        try:
            model = (
                self._model(model_ref, classes, notify or (lambda e: None)) if model_ref else None
            )
        except ClassCountError:  # a class added since it was trained: the clicks alone serve
            unfit = f"GrabCut refines ({Path(model_ref).name} is for another number of classes)"
        net = model.predictor if model is not None else None
        key = (class_value, threshold)
        if self._refiner is None or self._refiner[:2] != (net, key):
            name = Path(model_ref).name if model_ref else ""
            finish = model.refine if model is not None else "none"
            self._refiner = (net, key, Refiner(net, name, threshold, class_value, finish))
        refiner = self._refiner[2]
        if net is None:
            refiner.name = unfit or NO_MODEL_NAME
        proposed = self._proposed
        if proposed is not None and proposed[0].predictor is net and proposed[1] is image:
            refiner.know(image, proposed[2])
        mask, window = refiner.refine_window(image, prev > 0, clicks)
        return mask, window, refiner

    @property
    def refinement(self) -> str:
        """How the last proposal was refined (``proposal_refine.METHODS``)."""
        return self._proposed[0].refine if self._proposed is not None else "none"

    def _as_proposed(self, image: np.ndarray) -> np.ndarray:
        """The last proposal's image when ``image`` is the same picture (so its
        probabilities serve the clicks), else ``image``."""
        if self._proposed is None:
            return image
        proposed = self._proposed[1]
        if proposed.dtype == image.dtype and np.array_equal(proposed, image):
            return proposed
        return image
