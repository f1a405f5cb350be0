"""The model engine process: ``python -m segapp.ml.engine_server`` (started by the window).

It answers the frames :mod:`segapp.ml.engine_client` sends on its stdin: ``hello`` (the
device), ``prepare`` (build a checkpoint's model ahead of its first proposal), ``predict``
(an image, or the path of one, with a checkpoint folder), ``refine`` (clicks on an image:
the active class's new mask in a window, :mod:`segapp.ml.interactive`), ``job`` (the
window's other model work, :mod:`segapp.ml.jobs`, each in a process started for it by
:mod:`segapp.ml.job_process`) and ``quit``.
Its own stdout carries only frames; anything printed goes to stderr.

What it imports is the point: on the CPU, a checkpoint with a cached ONNX export proposes
with ONNX Runtime, numpy and OpenCV alone (:class:`~segapp.ml.onnx_predictor.OnnxPredictor`);
torch is imported only for a checkpoint not exported yet (it proposes with PyTorch while the
export runs in the background, then switches; the export's metadata is written once ONNX
Runtime runs it, so the next session needs no torch), for ``SEGAPP_BACKEND=torch``, or for
a GPU (``auto`` looks for one without torch first; an Apple Silicon Mac or a machine with an
NVIDIA driver loads torch at the start to find out).
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
from segapp.ml.engine_client import read_frame, write_frame
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


def _refine(engine: Engine, req: dict[str, Any], arrays: list, out) -> None:
    try:
        clicks = [Click(float(x), float(y), bool(pos)) for x, y, pos in req["clicks"]]
        got = engine.refine(
            req.get("model") or "",
            int(req["classes"]),
            str(req["image_key"]),
            arrays[1] if len(arrays) > 1 else None,
            arrays[0],
            clicks,
            int(req.get("class_value", 1)),
            float(req.get("threshold", 0.5)),
            lambda event: write_frame(out, event),
        )
    except Exception as e:  # noqa: BLE001 - reported to the window
        log.exception("refining failed")
        write_frame(out, {"ok": False, "error": str(e) or type(e).__name__})
        return
    if got is None:
        write_frame(out, {"ok": False, "need_image": True})
        return
    mask, window, refiner = got
    reply = {"ok": True, "refiner": refiner.kind, "refiner_name": refiner.name}
    write_frame(out, reply | {"window": list(window)}, [mask.astype(np.uint8)])


def _predict(engine: Engine, req: dict[str, Any], arrays: list, out) -> None:
    from segapp.core.imageio import SegappError, read_image

    try:
        image = arrays[0] if arrays else read_image(req["path"])
        labels, probs = engine.predict(
            req["model"],
            int(req["classes"]),
            image,
            float(req.get("threshold", 0.5)),
            lambda event: write_frame(out, event),
        )
    except Exception as e:  # noqa: BLE001 - reported to the window
        if not isinstance(e, SegappError):
            log.exception("proposal failed")
        reply = {"ok": False, "error": str(e) or type(e).__name__}
        write_frame(out, reply | {"model_error": isinstance(e, ModelError)})
        return
    keep = req.get("want_probs", True) and probs.shape[0] == 1  # binary: re-thresholded later
    reply = {"ok": True, "builds": engine.builds, "torch": "torch" in sys.modules}
    reply["refine"] = engine.refinement  # the window re-thresholds the proposal likewise
    write_frame(out, reply, [labels, probs] if keep else [labels])


def _prepare(engine: Engine, req: dict[str, Any], out) -> None:
    try:
        engine.prepare(req["model"], int(req["classes"]), lambda event: write_frame(out, event))
    except Exception as e:  # noqa: BLE001 - the proposal will say it
        write_frame(out, {"ok": False, "error": str(e) or type(e).__name__})
        return
    write_frame(out, {"ok": True, "builds": engine.builds, "torch": "torch" in sys.modules})


def _job(req: dict[str, Any], arrays: list, out) -> None:
    from segapp.core.imageio import SegappError
    from segapp.ml import jobs

    name = req.get("job")
    if name not in jobs.JOBS:
        write_frame(out, {"ok": False, "error": f"unknown job {name!r}"})
        return
    try:
        result, found = jobs.run(name, req.get("args", {}), arrays, lambda e: write_frame(out, e))
    except Exception as e:  # noqa: BLE001 - reported to the window
        if not isinstance(e, SegappError):
            log.exception("job %s failed", name)
        write_frame(out, {"ok": False, "error": str(e) or type(e).__name__})
        return
    write_frame(out, {"ok": True, "result": result}, found)


def serve(inp, out) -> None:
    """Answer requests until ``quit`` or the end of the input."""
    engine: Engine | None = None
    while True:
        try:
            req, arrays = read_frame(inp)
        except EOFError:
            return
        op = req.get("op")
        if op == "quit":
            return
        if op == "hello":
            try:
                engine = Engine(req.get("device", "auto"))
            except Exception as e:  # noqa: BLE001 - e.g. an unknown device name
                write_frame(out, {"ok": False, "error": f"the model engine failed to load: {e}"})
                continue
            torch_loaded = "torch" in sys.modules
            write_frame(out, {"ok": True, "device": engine.device_name, "torch": torch_loaded})
            if engine.onnx_only:
                onnx.available()  # imports ONNX Runtime while the person looks at the window
        elif op == "predict" and engine is not None:
            _predict(engine, req, arrays, out)
        elif op == "refine" and engine is not None:
            _refine(engine, req, arrays, out)
        elif op == "prepare" and engine is not None:
            _prepare(engine, req, out)
        elif op == "job":  # no engine needed: a job loads what it uses (segapp.ml.jobs)
            _job(req, arrays, out)
        else:
            write_frame(out, {"ok": False, "error": f"unexpected request {op!r}"})


def main() -> None:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")  # frames only
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot garble them
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
