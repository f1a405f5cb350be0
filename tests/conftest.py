"""Shared fixtures: small generated data sets (tests never need ../shared)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Proposals run as shipped: ONNX Runtime on the CPU (SEGAPP_BACKEND unset = auto); a test
# about the PyTorch path says so (@pytest.mark.torch_backend, per test or per module).
os.environ.pop("SEGAPP_BACKEND", None)
# ONNX exports in one cache per test session (never the user's ~/.cache): a checkpoint
# exported once (same spec and weights) is found by every later test, and by the engine
# and CLI processes the tests start
_ONNX_CACHE = tempfile.mkdtemp(prefix="segapp-tests-cache-")
os.environ["SEGAPP_CACHE"] = _ONNX_CACHE


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "torch_backend: predict with PyTorch (SEGAPP_BACKEND=torch), not ONNX Runtime"
    )


def pytest_unconfigure(config):
    shutil.rmtree(_ONNX_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def _backend_of_the_test(request, monkeypatch):
    """SEGAPP_BACKEND=torch for a test marked ``torch_backend``; else the shipped default."""
    if request.node.get_closest_marker("torch_backend"):
        monkeypatch.setenv("SEGAPP_BACKEND", "torch")


@pytest.fixture(autouse=True)
def _cycles_collected_on_the_gui_thread(request):
    """A test with Qt runs as the window does (``segapp.ui.gui_gc``): cyclic garbage is
    collected on the GUI thread only; the others keep Python's own collector."""
    if not {"qtbot", "qapp"} & set(request.fixturenames):
        yield
        return
    from segapp.ui.gui_gc import GuiThreadCollector

    collector = GuiThreadCollector(request.getfixturevalue("qapp"))
    yield
    collector.stop()
    collector.deleteLater()


SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def make_blob_pair(rng: np.random.Generator, height: int, width: int, rgb: bool = True):
    """An image with a few bright discs on noise and its 0/255 mask."""
    mask = np.zeros((height, width), np.uint8)
    for _ in range(rng.integers(1, 4)):
        r = int(rng.integers(max(3, min(height, width) // 10), max(4, min(height, width) // 4)))
        cy, cx = int(rng.integers(r, height - r)), int(rng.integers(r, width - r))
        cv2.circle(mask, (cx, cy), r, 255, -1)
    noise = rng.normal(60, 20, (height, width))
    gray = np.clip(noise + (mask > 0) * 120, 0, 255).astype(np.uint8)
    image = np.stack([gray, gray // 2 + 40, 255 - gray], axis=2) if rgb else gray
    return image, mask


def make_dataset(
    root: Path,
    n: int = 8,
    height: int = 64,
    width: int = 64,
    seed: int = 0,
    rgb: bool = True,
    masks: int | None = None,
) -> Path:
    """root/images/*.png + root/masks/*.png (only the first ``masks`` images get a mask)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask = make_blob_pair(rng, height, width, rgb)
        cv2.imwrite(str(root / "images" / f"{i}.png"), image[..., ::-1] if rgb else image)
        if masks is None or i < masks:
            cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)
    return root


def make_structure_dataset(
    root: Path, thick: bool, n: int = 3, height: int = 150, width: int = 160
) -> Path:
    """root/images + root/masks of noise images whose masks are one object over about half of
    each image (``thick``: it survives a resize) or a grid of 1 px lines (it does not)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        mask = np.zeros((height, width), np.uint8)
        if thick:
            mask[:, : width // 2 - 10 + 5 * i] = 255
        else:
            mask[::20] = 255
            mask[:, ::20] = 255
        image = rng.integers(0, 255, (height, width, 3), np.uint8)
        cv2.imwrite(str(root / "images" / f"{i}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)
    return root


@pytest.fixture
def blob_data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


def tiny_train_config(tmp_path: Path, data: Path, **kw):
    """A TrainConfig for tests: unet-small at 32 px on the CPU, no time budget (the tests
    count epochs), writing to ``tmp_path / "run"``; ``kw`` overrides any field."""
    from segapp.ml.train import TrainConfig

    base = dict(
        data=str(data),
        out=str(tmp_path / "run"),
        model="unet-small",
        epochs=2,
        size=32,
        batch_size=4,
        lr=3e-3,
        device="cpu",
        augment="light",
        time_budget=0,
    )
    base.update(kw)
    return TrainConfig(**base)
