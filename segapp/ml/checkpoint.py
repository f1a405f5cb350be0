"""Checkpoints are folders that rebuild themselves: ``config.json`` + ``model.safetensors``.

``config.json`` holds the ModelSpec, the training config and the metrics; ``metrics.csv`` the
per-epoch history. Nothing is ever unpickled: weights are safetensors, and a ``.pt``/``.pth``
file is read with ``torch.load(weights_only=True)`` at most.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from segapp.core.imageio import write_bytes_atomic
from segapp.ml.registry import PRESETS, create_model, preset_spec
from segapp.ml.spec import ModelError, ModelSpec
from segapp.ml.weights_file import read_state_dict

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"


@dataclass
class LoadedModel:
    """A ready network and what it was trained with."""

    model: torch.nn.Module
    spec: ModelSpec
    name: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def train_config(self) -> dict[str, Any]:
        return self.config.get("train", {})


def weights_on_cpu(model: torch.nn.Module, copy: bool = False) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU, contiguous; ``copy``: never the model's own tensors
    (a snapshot that later steps leave alone, also when the model is on the CPU)."""
    return {
        k: v.detach().to("cpu", copy=copy).contiguous()
        for k, v in _unwrap(model).state_dict().items()
    }


def save_checkpoint(
    folder: str | Path,
    model: torch.nn.Module,
    spec: ModelSpec,
    extra: dict[str, Any] | None = None,
    weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write weights then config (each atomically) into ``folder``: the model's weights, or
    ``weights`` (a :func:`weights_on_cpu` snapshot) when given."""
    from safetensors.torch import save

    folder = Path(folder)
    state = weights_on_cpu(model) if weights is None else weights
    write_bytes_atomic(folder / WEIGHTS_FILE, save(state))
    config = {"format": 1, "model": spec.to_dict()} | (extra or {})
    write_bytes_atomic(folder / CONFIG_FILE, json.dumps(config, indent=1).encode())
    return folder


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    if not path.exists():
        raise ModelError(f"{folder}: not a checkpoint folder ({CONFIG_FILE} is missing)")
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable checkpoint config ({e})") from e
    if not isinstance(config, dict):
        raise ModelError(f"{path}: not a checkpoint config (a JSON {type(config).__name__})")
    return config


def load_checkpoint(folder: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild the network of a checkpoint folder and load its weights."""
    folder = Path(folder)
    config = read_config(folder)
    spec = spec_of(config, folder)
    weights = folder / WEIGHTS_FILE
    if not weights.exists():
        raise ModelError(f"{folder}: {WEIGHTS_FILE} is missing; the checkpoint is incomplete")
    model = _build(spec, folder)
    load_weights(model, weights)
    model.to(device).eval()
    return LoadedModel(model, spec, folder.name, config)


def spec_of(config: dict[str, Any], folder: str | Path) -> ModelSpec:
    """The ModelSpec of a checkpoint's config (ModelError when it has none or a broken one)."""
    try:
        return ModelSpec.from_dict(config["model"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(
            f"{Path(folder) / CONFIG_FILE}: no valid 'model' section ({type(e).__name__}: {e}); "
            "the checkpoint is incomplete"
        ) from e


def _build(spec: ModelSpec, folder: str | Path) -> torch.nn.Module:
    try:
        return create_model(spec, pretrained=False)
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        raise ModelError(f"{folder}: its 'model' section does not build a network ({e})") from e


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load a safetensors or weights-only torch file into ``model`` (strict)."""
    state = read_state_dict(path)
    try:
        missing, unexpected = _unwrap(model).load_state_dict(state, strict=False)
    except RuntimeError as e:  # same names, other shapes
        shapes = [line.strip() for line in str(e).splitlines() if "size mismatch" in line]
        raise ModelError(
            f"{path}: weights of another shape than this network "
            f"({len(shapes)} tensors, e.g. {shapes[0] if shapes else e}); "
            "was it trained with another preset or number of classes?"
        ) from e
    if missing or unexpected:
        raise ModelError(
            f"{path}: weights do not fit this network "
            f"(missing {len(missing)} e.g. {missing[:3]}, unexpected {len(unexpected)} "
            f"e.g. {unexpected[:3]}); was it trained with another model preset?"
        )


def load_model(
    ref: str | Path,
    device: torch.device | str = "cpu",
    classes: int = 1,
    in_channels: int = 3,
    pretrained: bool = True,
    **overrides: Any,
) -> LoadedModel:
    """A preset name (fresh network), a checkpoint folder, or a weights file.

    A weights file needs a ``config.json`` beside it (it is then read as a checkpoint).
    """
    ref_str = str(ref)
    if ref_str in PRESETS:
        spec = preset_spec(ref_str, classes=classes, in_channels=in_channels, **overrides)
        model = create_model(spec, pretrained=pretrained).to(device).eval()
        return LoadedModel(model, spec, ref_str, {})
    path = Path(ref).expanduser()
    if path.is_dir():
        return load_checkpoint(path, device)
    if path.is_file():
        if (path.parent / CONFIG_FILE).exists():
            config = read_config(path.parent)
            spec = spec_of(config, path.parent)
            model = _build(spec, path.parent)
            load_weights(model, path)
            return LoadedModel(model.to(device).eval(), spec, path.stem, config)
        read_state_dict(path)  # refuses pickled code with its own message first
        raise ModelError(
            f"{path}: a bare weights file does not say which network it belongs to; put it in a "
            f"folder with the {CONFIG_FILE} it was trained with"
        )
    raise ModelError(
        f"{ref}: not a model preset, checkpoint folder or weights file "
        f"(presets: {', '.join(PRESETS)})"
    )


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DistributedDataParallel / torch.compile wrappers."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def save_optimizer(path: str | Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Tensors of an optimizer's state to safetensors; returns the JSON-able rest."""
    from safetensors.torch import save

    state = optimizer.state_dict()
    tensors, rest = {}, {}
    for idx, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                rest.setdefault(str(idx), {})[key] = value
    write_bytes_atomic(path, save(tensors))
    return {"param_groups": state["param_groups"], "scalars": rest}


def load_optimizer(
    path: str | Path, optimizer: torch.optim.Optimizer, meta: dict[str, Any]
) -> None:
    """Inverse of :func:`save_optimizer`."""
    tensors = read_state_dict(path)
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    for idx, values in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
