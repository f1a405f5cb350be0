"""Model proposals off the GUI thread and out of the window's process.

The model engine is a process of its own (:mod:`segapp.ml.engine_server`, started when the
window shows): the window never imports torch, smp or timm, and a native crash in the
engine ends that process, not the window (the next proposal starts a new one). With a
cached ONNX export it proposes on ONNX Runtime without torch; ``engineReady`` says when it
is there and on which device.

The GUI talks to :class:`ProposeEngine` (lives in the GUI thread); it forwards requests to
a :class:`_Worker` living in a ``QThread``, which sends them to the process and waits for
the answer (without the GIL). ``cancel()`` stops a batch between images. The Click tool's
``refine`` requests (:mod:`segapp.ui.labeling.refine`) go through the same worker and
engine process, one request at a time like the proposals.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from segapp.ml.engine_client import EngineClient, EngineError
from segapp.ui.labeling.refine import RefineFailed, RefineRequest, send_refine

log = logging.getLogger(__name__)


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


class _Worker(QObject):
    engineReady = Signal(str)  # device description
    engineFailed = Signal(str)
    # id, stem, labels, probs, model, how its proposals are refined (proposal_refine.METHODS)
    proposalReady = Signal(int, str, object, object, str, str)
    proposalFailed = Signal(int, str, str)  # id, stem, message
    batchItem = Signal(int, str, object, str)  # id, stem, labels, model
    batchItemFailed = Signal(int, str, str)  # id, stem, message
    batchProgress = Signal(int, int, int)  # id, done, total
    batchFinished = Signal(int, int, int, bool)  # id, done, total, cancelled
    refineReady = Signal(object)  # RefineResult
    refineFailed = Signal(int, str)  # seq, message
    message = Signal(str)  # device fallback notes ...

    def __init__(self, cancel: threading.Event) -> None:
        super().__init__()
        self._cancel = cancel
        self._device_request = "auto"
        self._client: EngineClient | None = None
        self.last_reply: dict[str, Any] = {}  # the engine's last answer (models built, torch)
        self._lock = threading.Lock()  # kill() from the GUI thread vs. a client being made
        self._closing = False  # the window closes: no new engine process
        self._image_keys: set[str] = set()  # images the engine process holds (refine)

    # ------------------------------------------------------------------ engine
    @Slot(str)
    def load_engine(self, device_name: str) -> None:
        self._device_request = device_name
        t0 = time.perf_counter()
        try:
            client = self._ensure_client()
        except EngineError as e:
            self.engineFailed.emit(f"the model engine failed to load: {e}")
            return
        desc = client.info.get("device", "?")
        log.info("model engine ready on %s in %.2f s", desc, time.perf_counter() - t0)
        self.engineReady.emit(desc)

    def _ensure_client(self) -> EngineClient:
        """The engine process, started (again) when there is none."""
        if self._client is not None and self._client.alive:
            return self._client
        if self._client is not None:
            self._client.close()
        client = EngineClient(self._device_request)
        self._image_keys = set()  # a new process holds no image
        with self._lock:
            if self._closing:
                raise EngineError("the window is closing")
            self._client = client
        client.start()
        return client

    def kill(self) -> None:
        """End the engine process now, for good (any thread): a request in flight fails."""
        with self._lock:
            self._closing = True
            if self._client is not None:
                self._client.kill()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "message":
            self.message.emit(event.get("text", ""))
        elif event.get("event") == "device":
            self.engineReady.emit(event.get("device", "?"))

    def _predict(
        self, req: ProposeRequest, image: np.ndarray | None = None, path: Path | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(labels, probabilities or None); ModelError-like failures raise _Failed."""
        client = self._ensure_client()
        header = {"op": "predict", "model": req.model_ref, "classes": req.classes}
        header |= {"threshold": req.threshold, "want_probs": image is not None}
        if path is not None:
            header["path"] = str(path)
        reply, arrays = client.request(header, [] if image is None else [image], self._on_event)
        if not reply.get("ok"):
            raise _Failed(
                reply.get("error", "the proposal failed"), reply.get("model_error", False)
            )
        self.last_reply = reply
        return arrays[0], (arrays[1] if len(arrays) > 1 else None)

    # ------------------------------------------------------------------ requests
    @Slot(object)
    def prepare(self, req: ProposeRequest) -> None:
        """Have the engine build the model before the first proposal asks for it."""
        header = {"op": "prepare", "model": req.model_ref, "classes": req.classes}
        try:
            reply, _ = self._ensure_client().request(header, on_event=self._on_event)
        except EngineError as e:
            log.info("preparing %s: %s", req.model_ref, e)
            return
        if not reply.get("ok"):  # the proposal will say why
            log.info("preparing %s: %s", req.model_ref, reply.get("error"))
        self.last_reply = reply

    @Slot(object)
    def propose(self, req: ProposeRequest) -> None:
        try:
            labels, probs = self._predict(req, image=req.image)
        except (_Failed, EngineError) as e:
            self.proposalFailed.emit(req.request_id, req.stem, str(e))
            return
        name, refine = model_display_name(req.model_ref), self.last_reply.get("refine", "none")
        self.proposalReady.emit(req.request_id, req.stem, labels, probs, name, refine)

    @Slot(object)
    def propose_batch(self, req: ProposeRequest) -> None:
        total = len(req.batch)
        name = model_display_name(req.model_ref)
        done = 0
        for stem, path in req.batch:
            if self._cancel.is_set():
                break
            try:
                labels, _ = self._predict(req, path=path)
            except (_Failed, EngineError) as e:  # reported per image, the batch goes on
                self.batchItemFailed.emit(req.request_id, stem, str(e))
                if isinstance(e, EngineError) or e.model_error:
                    break  # no point trying the next image
            else:
                self.batchItem.emit(req.request_id, stem, labels, name)
            done += 1
            self.batchProgress.emit(req.request_id, done, total)
        self.batchFinished.emit(req.request_id, done, total, self._cancel.is_set())

    @Slot(object)
    def refine(self, req: RefineRequest) -> None:
        """The Click tool's refine (one at a time: the GUI side coalesces clicks)."""
        try:
            result = send_refine(self._ensure_client(), req, self._image_keys, self._on_event)
        except (RefineFailed, EngineError) as e:
            self.refineFailed.emit(req.seq, str(e))
            return
        self.refineReady.emit(result)


class _Failed(Exception):
    """The engine answered that this proposal cannot be made (``model_error``: no image can)."""

    def __init__(self, message: str, model_error: bool) -> None:
        super().__init__(message)
        self.model_error = model_error


class ProposeEngine(QObject):
    """The GUI-side handle of the proposal worker thread."""

    engineReady = Signal(str)
    engineFailed = Signal(str)
    proposalReady = Signal(int, str, object, object, str, str)  # as _Worker's
    proposalFailed = Signal(int, str, str)
    batchItem = Signal(int, str, object, str)
    batchItemFailed = Signal(int, str, str)
    batchProgress = Signal(int, int, int)
    batchFinished = Signal(int, int, int, bool)
    refineReady = Signal(object)  # RefineResult
    refineFailed = Signal(int, str)  # seq, message
    message = Signal(str)

    _loadRequested = Signal(str)
    _proposeRequested = Signal(object)
    _batchRequested = Signal(object)
    _prepareRequested = Signal(object)
    _refineRequested = Signal(object)

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
        self._prepareRequested.connect(w.prepare)
        self._refineRequested.connect(w.refine)
        w.engineReady.connect(self._on_ready)
        w.engineFailed.connect(self._on_failed)
        w.proposalReady.connect(self._done_one)
        w.proposalFailed.connect(self._failed_one)
        w.batchItem.connect(self.batchItem)
        w.batchItemFailed.connect(self.batchItemFailed)
        w.batchProgress.connect(self.batchProgress)
        w.batchFinished.connect(self._batch_done)
        w.refineReady.connect(self._refined)
        w.refineFailed.connect(self._refine_failed)
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

    def _refined(self, result) -> None:
        self.busy -= 1
        self.refineReady.emit(result)

    def _refine_failed(self, seq: int, message: str) -> None:
        self.busy -= 1
        self.refineFailed.emit(seq, message)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def prepare(self, model_ref: str, classes: int) -> None:
        """Build the model of a trained checkpoint folder in the engine ahead of time."""
        self.start()
        self._prepareRequested.emit(ProposeRequest(model_ref, classes))

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

    def refine(self, req: RefineRequest) -> None:
        """Queue a Click-tool refine (``refineReady(RefineResult)`` / ``refineFailed``)."""
        self.start()
        self.busy += 1
        self._refineRequested.emit(req)

    def cancel(self) -> None:
        """Stop a running batch after the current image."""
        self._cancel.set()

    def shutdown(self) -> None:
        """Cancel, end the engine process (a prediction in flight too), stop the thread."""
        self._closed = True
        if self._thread is None:
            return
        self._cancel.set()
        assert self._worker is not None
        self._worker.kill()  # the worker's wait ends at once
        self._thread.quit()
        self._thread.wait()
        self._worker.close()  # its thread has ended: reap the process here
        self._thread = None
        self._worker = None
