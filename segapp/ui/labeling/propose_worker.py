"""Model proposals off the GUI thread: a worker thread with the inference engine and a model cache.

torch, segmentation_models_pytorch and ``segapp.ml`` are imported *in the worker thread*
when it starts, so the window shows before the (slow) engine is loaded; ``engineReady``
says when it is there and on which device. Results come back by signal; the GUI thread
never waits for the network.

The GUI talks to :class:`ProposeEngine` (lives in the GUI thread); it forwards requests to
a :class:`_Worker` living in a ``QThread``. ``cancel()`` stops a batch between images.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

MODEL_CACHE_SIZE = 2


@dataclass
class ProposeRequest:
    """What to propose with: a trained checkpoint folder, for ``classes`` classes."""

    model_ref: str
    classes: int  # number of label classes of the project (2 = binary)
    threshold: float = 0.5
    device: str = "auto"
    stem: str = ""
    image: np.ndarray | None = None  # one image (propose)
    batch: list[tuple[str, Path]] = field(default_factory=list)  # (stem, image path) (propose all)
    request_id: int = 0


def model_display_name(model_ref: str) -> str:
    """The name recorded as ``proposed_by``: the checkpoint folder's name."""
    p = Path(model_ref)
    return p.name if (p.is_dir() or os.sep in model_ref) else model_ref


def _weights_stamp(model_ref: str) -> int:
    """Changes when a checkpoint folder's weights are rewritten (a reused version name)."""
    try:
        return (Path(model_ref) / "model.safetensors").stat().st_mtime_ns
    except OSError:
        return 0


class _Worker(QObject):
    engineReady = Signal(str)  # device description
    engineFailed = Signal(str)
    proposalReady = Signal(int, str, object, object, str)  # id, stem, labels, probs, model
    proposalFailed = Signal(int, str, str)  # id, stem, message
    batchItem = Signal(int, str, object, str)  # id, stem, labels, model
    batchItemFailed = Signal(int, str, str)  # id, stem, message
    batchProgress = Signal(int, int, int)  # id, done, total
    batchFinished = Signal(int, int, int, bool)  # id, done, total, cancelled
    message = Signal(str)  # device fallback notes ...

    def __init__(self, cancel: threading.Event) -> None:
        super().__init__()
        self._cancel = cancel
        self._ml: dict[str, Any] | None = None
        self._device = None
        self._models: OrderedDict[tuple[str, int, str, int], Any] = OrderedDict()

    # ------------------------------------------------------------------ engine
    @Slot(str)
    def load_engine(self, device_name: str) -> None:
        t0 = time.perf_counter()
        try:
            import torch

            from segapp.ml import checkpoint, device, infer, registry

            self._ml = {
                "torch": torch,
                "checkpoint": checkpoint,
                "device": device,
                "infer": infer,
                "registry": registry,
            }
            # smp/timm: imported now rather than at the first proposal
            with contextlib.suppress(ImportError):
                import segmentation_models_pytorch  # noqa: F401
            self._device = device.resolve_device(device_name)
            desc = device.describe_device(self._device)
        except Exception as e:  # noqa: BLE001 - shown to the person
            log.exception("model engine failed to load")
            self.engineFailed.emit(f"the model engine failed to load: {e}")
            return
        log.info("model engine ready on %s in %.2f s", desc, time.perf_counter() - t0)
        self.engineReady.emit(desc)

    def _predictor(self, req: ProposeRequest):
        ml = self._ml
        assert ml is not None
        if req.model_ref in ml["registry"].PRESETS:  # an untrained head proposes noise
            raise ml["registry"].ModelError(
                f"{req.model_ref} is an untrained preset; proposals need a trained model folder"
            )
        out_classes = 1 if req.classes == 2 else req.classes
        key = (req.model_ref, out_classes, str(self._device), _weights_stamp(req.model_ref))
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        loaded = ml["checkpoint"].load_model(req.model_ref, "cpu", classes=out_classes)
        if loaded.spec.out_classes != max(2, req.classes):
            raise ml["registry"].ModelError(
                f"{loaded.name} predicts {loaded.spec.out_classes} classes but this project has "
                f"{req.classes}; choose another model or train one on this project"
            )
        try:
            predictor = ml["infer"].Predictor(loaded, self._device, onnx_export="background")
        except Exception as e:  # noqa: BLE001 - a broken GPU falls back to the CPU
            if self._device is None or self._device.type == "cpu":
                raise
            desc = ml["device"].describe_device(self._device)
            self.message.emit(f"{desc} failed ({e}); proposing on the CPU instead (slower)")
            self._device = ml["torch"].device("cpu")
            self.engineReady.emit(ml["device"].describe_device(self._device))
            predictor = ml["infer"].Predictor(loaded, self._device, onnx_export="background")
        self._models[key] = predictor
        while len(self._models) > MODEL_CACHE_SIZE:
            self._models.popitem(last=False)
        return predictor

    def _predict(self, req: ProposeRequest, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        predictor = self._predictor(req)
        probs = predictor.predict(image)
        if predictor.fallback_message:
            self.message.emit(predictor.fallback_message)
            self.engineReady.emit(predictor.device_name)
            predictor.fallback_message = None
        return ml_labels(probs, req.threshold), probs

    def _not_ready(self) -> str | None:
        return None if self._ml is not None else "the model engine is not available"

    # ------------------------------------------------------------------ requests
    @Slot(object)
    def propose(self, req: ProposeRequest) -> None:
        if (msg := self._not_ready()) is not None:
            self.proposalFailed.emit(req.request_id, req.stem, msg)
            return
        try:
            labels, probs = self._predict(req, req.image)
        except Exception as e:  # noqa: BLE001 - shown to the person
            log.exception("proposal failed")
            self.proposalFailed.emit(req.request_id, req.stem, str(e))
            return
        self.proposalReady.emit(
            req.request_id, req.stem, labels, probs, model_display_name(req.model_ref)
        )

    @Slot(object)
    def propose_batch(self, req: ProposeRequest) -> None:
        total = len(req.batch)
        if (msg := self._not_ready()) is not None:
            for stem, _ in req.batch:
                self.batchItemFailed.emit(req.request_id, stem, msg)
            self.batchFinished.emit(req.request_id, 0, total, False)
            return
        from segapp.core.imageio import read_image

        name = model_display_name(req.model_ref)
        done = 0
        for stem, path in req.batch:
            if self._cancel.is_set():
                break
            try:
                labels, _ = self._predict(req, read_image(path))
            except Exception as e:  # noqa: BLE001 - reported per image, the batch goes on
                self.batchItemFailed.emit(req.request_id, stem, str(e))
                if self._predictor_failed(e):
                    break
            else:
                self.batchItem.emit(req.request_id, stem, labels, name)
            done += 1
            self.batchProgress.emit(req.request_id, done, total)
        self.batchFinished.emit(req.request_id, done, total, self._cancel.is_set())

    def _predictor_failed(self, e: Exception) -> bool:
        """True when the model itself cannot be used (no point trying the next image)."""
        ml = self._ml
        return ml is not None and isinstance(e, ml["registry"].ModelError)


def ml_labels(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Probabilities (1, H, W) or (K, H, W) -> class indices (same rule as ml.infer)."""
    if probs.shape[0] == 1:
        return (probs[0] > threshold).astype(np.uint8)
    return probs.argmax(axis=0).astype(np.uint8)


class ProposeEngine(QObject):
    """The GUI-side handle of the proposal worker thread."""

    engineReady = Signal(str)
    engineFailed = Signal(str)
    proposalReady = Signal(int, str, object, object, str)
    proposalFailed = Signal(int, str, str)
    batchItem = Signal(int, str, object, str)
    batchItemFailed = Signal(int, str, str)
    batchProgress = Signal(int, int, int)
    batchFinished = Signal(int, int, int, bool)
    message = Signal(str)

    _loadRequested = Signal(str)
    _proposeRequested = Signal(object)
    _batchRequested = Signal(object)

    def __init__(self, device: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.device_request = device or os.environ.get("SEGAPP_DEVICE", "auto")
        self.device_name: str | None = None
        self.ready = False
        self.failed: str | None = None
        self.busy = 0  # requests in flight
        self._next_id = 0
        self._cancel = threading.Event()
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._closed = False

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the thread and load the engine there (idempotent)."""
        if self._thread is not None or self._closed:
            return
        self._thread = QThread()
        self._thread.setObjectName("segapp-propose")
        self._worker = _Worker(self._cancel)
        self._worker.moveToThread(self._thread)
        w = self._worker
        self._loadRequested.connect(w.load_engine)
        self._proposeRequested.connect(w.propose)
        self._batchRequested.connect(w.propose_batch)
        w.engineReady.connect(self._on_ready)
        w.engineFailed.connect(self._on_failed)
        w.proposalReady.connect(self._done_one)
        w.proposalFailed.connect(self._failed_one)
        w.batchItem.connect(self.batchItem)
        w.batchItemFailed.connect(self.batchItemFailed)
        w.batchProgress.connect(self.batchProgress)
        w.batchFinished.connect(self._batch_done)
        w.message.connect(self.message)
        self._thread.start()
        self._loadRequested.emit(self.device_request)

    def _on_ready(self, desc: str) -> None:
        self.ready, self.device_name = True, desc
        self.engineReady.emit(desc)

    def _on_failed(self, msg: str) -> None:
        self.failed = msg
        self.engineFailed.emit(msg)

    def _done_one(self, *args) -> None:
        self.busy -= 1
        self.proposalReady.emit(*args)

    def _failed_one(self, *args) -> None:
        self.busy -= 1
        self.proposalFailed.emit(*args)

    def _batch_done(self, *args) -> None:
        self.busy -= 1
        self.batchFinished.emit(*args)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def propose(self, req: ProposeRequest) -> int:
        """Queue one image; returns the request id (``proposalReady``/``proposalFailed``)."""
        self.start()
        req.request_id = self._new_id()
        self.busy += 1
        self._proposeRequested.emit(req)
        return req.request_id

    def propose_batch(self, req: ProposeRequest) -> int:
        """Queue ``req.batch`` (read and proposed one by one in the worker)."""
        self.start()
        self._cancel.clear()
        req.request_id = self._new_id()
        self.busy += 1
        self._batchRequested.emit(req)
        return req.request_id

    def cancel(self) -> None:
        """Stop a running batch after the current image."""
        self._cancel.set()

    def shutdown(self) -> None:
        """Cancel, let the current prediction end, stop the thread (for good)."""
        self._closed = True
        if self._thread is None:
            return
        self._cancel.set()
        self._thread.quit()
        self._thread.wait()
        self._thread = None
        self._worker = None
