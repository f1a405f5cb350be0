"""``segapp export onnx``: a trained model as one ONNX file anyone can run.

The network is exported by the same code that makes the CPU backend's ONNX files
(:mod:`segapp.ml.onnx_backend`): input ``x`` (N, C, H, W) float32, output ``logits``
(N, K, H, W), with N, H and W dynamic. The file's metadata says how to prepare the input
(``mean``, ``std``, ``size_multiple``, ``resize_to``, ``keep_aspect``: 1 = scale the longer
side to ``resize_to`` and mirror the rest of the square, 0 = squash) and read the output
(``activation``),
and the export is checked against PyTorch with ONNX Runtime at two image sizes before it
is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from segapp.core.imageio import describe_write_error
from segapp.interop.common import InteropError

TOLERANCE = 1e-3  # largest |logit difference| accepted between ONNX Runtime and PyTorch


def export_onnx(model_ref: str | os.PathLike, dest: str | os.PathLike) -> dict[str, str]:
    """Export the checkpoint ``model_ref`` to ``dest`` (a new file); returns its metadata."""
    import onnx

    from segapp.ml.checkpoint import load_model
    from segapp.ml.onnx_backend import OnnxNet
    from segapp.ml.preprocess import input_stats
    from segapp.ml.tiling import keeps_aspect, mirrors, resize_target

    dest = Path(dest).expanduser().absolute()
    if dest.exists():
        raise InteropError(f"{dest}: exists; choose a new file name")
    if not dest.parent.is_dir():
        raise InteropError(f"{dest.parent}: folder not found")
    loaded = load_model(model_ref, "cpu", pretrained=False)
    model, spec = loaded.model.eval(), loaded.spec
    mean, std = input_stats(spec)
    train = loaded.train_config
    meta = {
        "producer": "segapp",
        "in_channels": str(spec.in_channels),
        # after the image's channels: previous mask, positive and negative click disks
        "click_channels": str(spec.click_channels),
        "classes": str(spec.out_classes),  # label classes, background included
        "output_channels": str(spec.classes),  # 1 for a binary (sigmoid) model
        "activation": "sigmoid" if spec.is_binary else "softmax",
        "mean": json.dumps([round(float(v), 6) for v in mean]),
        "std": json.dumps([round(float(v), 6) for v in std]),
        "size_multiple": str(model.valid_input_size(1)),
        "resize_to": str(resize_target(train) or 0),
        "keep_aspect": str(int(keeps_aspect(train))),
        # segapp averages the pass over the left-right mirrored input in (tiling.mirrors)
        "mirror": str(int(mirrors(train))),
        "model_spec": json.dumps(spec.to_dict()),
    }
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        OnnxNet._export(model, tmp, spec.net_in_channels)
        proto = onnx.load(str(tmp))
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(tmp))
        err = max_difference(model, tmp, spec.net_in_channels)
        if err > TOLERANCE:
            raise InteropError(f"the ONNX export differs from PyTorch by {err:.2g}; not kept")
        os.replace(tmp, dest)
    except OSError as e:
        raise InteropError(describe_write_error(dest, e)) from e
    finally:
        tmp.unlink(missing_ok=True)
    return meta | {"max_difference": f"{err:.2g}"}


def max_difference(model, path: Path, in_channels: int) -> float:
    """Largest |logit| difference between ONNX Runtime and PyTorch at two non-square sizes."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for h, w in ((64, 96), (160, 128)):
        size = (1, in_channels, model.valid_input_size(h), model.valid_input_size(w))
        x = rng.normal(size=size).astype(np.float32)
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).float().numpy()
        got = session.run(None, {"x": x})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst
