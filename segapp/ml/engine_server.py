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
import sys
from typing import Any

import numpy as np

from segapp.core.clicks import Click
from segapp.ml import onnx_predictor as onnx
from segapp.ml.engine import ClassCountError, Engine, gpu_likely  # noqa: F401 - re-exported
from segapp.ml.engine_client import read_frame, write_frame
from segapp.ml.spec import ModelError

log = logging.getLogger(__name__)


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
