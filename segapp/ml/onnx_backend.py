"""ONNX Runtime as the CPU inference backend.

On this project's 2-core reference CPU, ONNX Runtime runs the default pretrained-lite0 U-Net
faster than eager PyTorch (see benchmarks/bench_predict.py). ``OnnxNet`` exports a network
once (cached by a hash of its spec and weights), checks that it gives the same logits as
PyTorch on a probe input, and then stands in for the module inside ``predict_tiled``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from segapp.ml.registry import ModelSpec

log = logging.getLogger(__name__)


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    base = (
        os.environ.get("SEGAPP_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    )
    return Path(base) / "segapp" / "onnx"


def _fingerprint(model: torch.nn.Module, spec_dict: dict) -> str:
    h = hashlib.sha256(json.dumps(spec_dict, sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(torch.__version__.encode())
    return h.hexdigest()[:24]


class OnnxNet:
    """A callable with the geometry methods of the wrapped network, running on ONNX Runtime."""

    def __init__(self, model: torch.nn.Module, spec: ModelSpec, threads: int | None = None):
        import onnxruntime as ort

        self.in_channels = spec.in_channels
        self.valid_input_size = model.valid_input_size
        self.output_size = model.output_size
        path = cache_dir() / f"{_fingerprint(model, spec.to_dict())}.onnx"
        if not path.exists():
            self._export(model, path, self.in_channels)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._check(model)

    @staticmethod
    def _export(model: torch.nn.Module, path: Path, in_channels: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        size = model.valid_input_size(64)
        dummy = torch.zeros(1, in_channels, size, size)
        tmp = path.with_suffix(".tmp")
        axes = {0: "n", 2: "h", 3: "w"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about the size checks
            torch.onnx.export(
                model.eval(),
                dummy,
                str(tmp),
                input_names=["x"],
                output_names=["logits"],
                dynamic_axes={"x": axes, "logits": axes},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, path)

    def _check(self, model: torch.nn.Module) -> None:
        size = model.valid_input_size(96)
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.normal(size=(1, self.in_channels, size, size)).astype(np.float32))
        with torch.inference_mode():
            ref = model.eval()(x).float().numpy()
        got = self.session.run(None, {"x": x.numpy()})[0]
        err = float(np.abs(ref - got).max())
        if err > 1e-3:
            raise RuntimeError(f"ONNX export differs from PyTorch by {err:.2g}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().cpu().contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {"x": arr})[0])

    def to(self, *args, **kwargs) -> OnnxNet:  # the Predictor moves models; ONNX stays on the CPU
        return self

    def eval(self) -> OnnxNet:
        return self
