"""Read a weights file without ever running code from it (safetensors; ``.pt`` weights only).

Below the model builders and the checkpoint reader: ``pretrained`` (encoder weights) and
``checkpoint`` (a network's weights, an optimizer's state) both read through it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from segapp.ml.spec import ModelError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a ``.pt``/``.pth`` without unpickling code."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelError(f"{path}: corrupt or truncated safetensors file ({e})") from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ModelError(
            f"{path}: refused to load: the file contains pickled Python objects, not only "
            "weights, and loading it could run code; convert it to .safetensors"
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise ModelError(f"{path}: not a readable weights file ({e})") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path}: holds no state dict of tensors")
    return obj
