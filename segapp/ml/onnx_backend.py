"""ONNX Runtime as the CPU inference backend.

On this project's 2-core reference CPU, ONNX Runtime runs a trained default checkpoint
faster than eager PyTorch (benchmarks/bench_predict.py: 0.35 s against 0.68 s at 1024²). ``OnnxNet`` exports a network
once (cached by a hash of its spec and weights), checks that it gives the same logits as
PyTorch on a probe input, and then stands in for the module inside ``predict_tiled``.

The export itself (``torch.onnx.export``) holds Python's GIL for up to ~150 ms at a time:
in the window that would freeze the GUI thread. :class:`BackgroundExport` runs it in a
separate process instead (``python -m segapp.ml.onnx_backend SPEC WEIGHTS OUT``) while
proposals go on with PyTorch; the predictor switches once the file is there.

:func:`export_checkpoint` exports a checkpoint folder into the cache with the metadata that
lets :class:`~segapp.ml.onnx_predictor.OnnxPredictor` propose without torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segapp.ml import onnx_predictor
from segapp.ml.onnx_predictor import available, cache_dir  # noqa: F401 - also used from here
from segapp.ml.spec import ModelSpec

log = logging.getLogger(__name__)


def _fingerprint(model: torch.nn.Module, spec_dict: dict) -> str:
    h = hashlib.sha256(json.dumps(spec_dict, sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(torch.__version__.encode())
    return h.hexdigest()[:24]


def cached_path(model: torch.nn.Module, spec: ModelSpec) -> Path:
    """Where the export of this network (spec and weights) is cached."""
    return cache_dir() / f"{_fingerprint(model, spec.to_dict())}.onnx"


_failed: set[Path] = set()  # background exports that failed: not tried again this session


class BackgroundExport:
    """Export ``model`` to ``cached_path`` in a child process; poll :meth:`done`.

    ``meta``: the child also checks the export and writes ``onnx_predictor``'s metadata
    beside it (a checkpoint's export, which then proposes without torch).
    """

    def __init__(
        self, model: torch.nn.Module, spec: ModelSpec, path: Path, meta: bool = False
    ) -> None:
        from safetensors.torch import save_file

        self.path = path  # cached_path(model, spec), computed once by the caller
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stem = self.path.with_suffix("")
        self._spec_file = stem.with_suffix(f".{os.getpid()}.spec.json")
        self._weights_file = stem.with_suffix(f".{os.getpid()}.safetensors")
        self._log_file = stem.with_suffix(f".{os.getpid()}.log")
        self._spec_file.write_text(json.dumps(spec.to_dict()))
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(self._weights_file))
        cmd = [sys.executable, "-m", __name__, str(self._spec_file), str(self._weights_file)]
        env = dict(os.environ)  # the child imports segapp as this process does
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        with open(self._log_file, "wb") as log_out:  # a file, not a pipe: it never fills up
            self.proc = subprocess.Popen(
                [*cmd, str(self.path), "1" if meta else "0"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_out,
                env=env,
            )
        # reaped as it ends, not at the next poll (which waits for the next proposal): no
        # <defunct> child meanwhile
        threading.Thread(target=self.proc.wait, name="segapp-onnx-export", daemon=True).start()
        log.info("exporting %s to ONNX in the background (pid %d)", spec.arch, self.proc.pid)

    def done(self) -> bool:
        """True once the child has ended (the files it needed are removed then)."""
        if self.proc.poll() is None:
            return False
        try:
            lines = self._log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        for f in (self._spec_file, self._weights_file, self._log_file):
            f.unlink(missing_ok=True)
        if not self.ok:
            _failed.add(self.path)
            last = lines[-1] if lines else f"exit code {self.proc.returncode}"
            log.warning("ONNX export failed (%s); staying on PyTorch", last)
        return True

    @property
    def ok(self) -> bool:
        return self.proc.returncode == 0 and self.path.exists()

    @staticmethod
    def failed_before(path: Path) -> bool:
        return path in _failed


def _export_main(spec_file: str, weights_file: str, out: str, meta: str = "0") -> None:
    """The child process: rebuild the network from spec and weights, export it to ``out``
    (``meta`` "1": and check it and write its metadata)."""
    from safetensors.torch import load_file

    from segapp.ml.registry import create_model

    spec = ModelSpec.from_dict(json.loads(Path(spec_file).read_text()))
    model = create_model(spec, pretrained=False)
    model.load_state_dict(load_file(weights_file))
    for f in (spec_file, weights_file):  # read: gone, even if the parent never polls again
        Path(f).unlink(missing_ok=True)
    OnnxNet._export(model.eval(), Path(out), spec.net_in_channels)
    if meta == "1":
        OnnxNet(model, spec, threads=1, path=Path(out))  # the same logits as PyTorch
        onnx_predictor.write_meta(Path(out), export_meta(model, spec))
    with contextlib.suppress(OSError):  # its log: wanted only when the export failed
        Path(spec_file.removesuffix(".spec.json") + ".log").unlink(missing_ok=True)


class OnnxNet:
    """A callable with the geometry methods of the wrapped network, running on ONNX Runtime."""

    def __init__(
        self,
        model: torch.nn.Module,
        spec: ModelSpec,
        threads: int | None = None,
        path: Path | None = None,
    ):
        import onnxruntime as ort

        self.in_channels = spec.net_in_channels
        self.valid_input_size = model.valid_input_size
        self.output_size = model.output_size
        path = path or cached_path(model, spec)
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
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
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


def export_meta(model: torch.nn.Module, spec: ModelSpec) -> dict[str, Any]:
    """What ``OnnxPredictor`` needs besides the ONNX file: input statistics and sizes."""
    from segapp.ml.preprocess import input_stats

    mean, std = input_stats(spec)
    geometry = model.geometry
    return {
        "in_channels": spec.in_channels,
        "click_channels": spec.click_channels,
        "out_channels": spec.classes,
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "size_multiple": geometry.size_multiple,
        "valid_depth": geometry.valid_depth,
    }


def export_checkpoint(folder: str | Path) -> Path:
    """Export a checkpoint folder into the cache (checked against PyTorch), with its metadata."""
    from segapp.ml.checkpoint import load_checkpoint

    folder = Path(folder)
    config = onnx_predictor.read_checkpoint_config(folder)
    path = onnx_predictor.export_path(folder, config)
    if onnx_predictor.read_meta(path) is None:
        loaded = load_checkpoint(folder)
        OnnxNet(loaded.model, loaded.spec, path=path)  # exports and checks
        onnx_predictor.write_meta(path, export_meta(loaded.model, loaded.spec))
    return path


if __name__ == "__main__":
    _export_main(*sys.argv[1:5])
