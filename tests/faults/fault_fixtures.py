"""Fixtures of the fault suites (imported by their modules: a conftest.py here would shadow
tests/conftest.py for every later `from conftest import ...`): the corpus built in
tmp_path, a good checkpoint, snapshots."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest
from fault_corpus import CASES, Case


@pytest.fixture(scope="session")
def good_model(tmp_path_factory) -> Path:
    """A unet-small binary checkpoint (a fresh network: it proposes, for plumbing)."""
    import torch

    from segapp.ml.checkpoint import save_checkpoint
    from segapp.ml.registry import create_model, preset_spec

    torch.manual_seed(0)
    spec = preset_spec("unet-small", classes=1)
    folder = tmp_path_factory.mktemp("model") / "good"
    return save_checkpoint(folder, create_model(spec), spec)


class _Pickled:
    """Unpickling this would create a file named by ``marker``: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def damage_checkpoint(kind: str, good: Path, folder: Path) -> Path:
    """A copy of ``good`` damaged as ``kind`` says; returns what to pass as the model."""
    import torch
    from safetensors.torch import save_file

    from segapp.ml.registry import create_model, preset_spec

    shutil.copytree(good, folder)
    config = json.loads((folder / "config.json").read_text())
    weights = folder / "model.safetensors"
    if kind == "no-weights":
        weights.unlink()
    elif kind == "no-model":
        config.pop("model")
        (folder / "config.json").write_text(json.dumps(config))
    elif kind == "truncated-config":
        (folder / "config.json").write_text(json.dumps(config)[:30])
    elif kind == "other-shape":
        other = create_model(preset_spec("unet-small", classes=3)).state_dict()
        save_file({k: v.contiguous() for k, v in other.items()}, str(weights))
    elif kind == "truncated-weights":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif kind == "pickle":
        weights.unlink()
        path = folder / "model.pt"
        torch.save({"w": torch.zeros(1), "x": _Pickled(str(folder / "PWNED"))}, path)
        with open(path, "wb") as f:
            pickle.dump({"w": _Pickled(str(folder / "PWNED"))}, f)
        return path
    elif kind == "last":
        (folder / "last").mkdir()
        shutil.copy(folder / "config.json", folder / "last" / "config.json")
        shutil.copy(weights, folder / "last" / "model.safetensors")  # no optimizer, no state
    return folder


@pytest.fixture
def corpus(tmp_path, good_model):
    """``corpus(name) -> Case`` built in tmp_path."""

    def build(name: str) -> Case:
        make = CASES[name]
        case = make(tmp_path)
        kind = getattr(make, "checkpoint", None)
        if kind is not None:
            case.model = damage_checkpoint(kind, good_model, tmp_path / "ckpt")
        return case

    return build


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha1 of every file under ``folder`` but models/ and the journal."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and rel.parts[0] != "models" and p.name != "segapp.journal":
            out[str(rel)] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out
