"""The built-in demo: coin images that ship inside scikit-image, and a small model trained on them.

``ensure_demo_project()`` writes (once, offline) a project folder of eight views of
scikit-image's ``coins`` photograph: two come with corrected masks (from the classic
Sobel + watershed segmentation of the scikit-image gallery), the others are left unlabeled
for the model to propose. ``demo_model()`` is a ``unet-small`` checkpoint shipped in
``models/demo-model`` (made by ``scripts/make_demo_model.py``; see ``segapp.shipped``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np

from segapp.shipped import model

log = logging.getLogger(__name__)

DEMO_MODEL_DIR = model("demo-model")


def data_dir() -> Path:
    """Per-user data folder: $SEGAPP_DATA, else the platform's usual place."""
    if os.environ.get("SEGAPP_DATA"):
        return Path(os.environ["SEGAPP_DATA"])
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "segapp"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "segapp"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "segapp"


def coins_mask(image: np.ndarray) -> np.ndarray:
    """Coins (1) vs background (0): Sobel elevation map flooded from sure markers."""
    from scipy import ndimage as ndi
    from skimage.filters import sobel
    from skimage.segmentation import watershed

    elevation = sobel(image)
    markers = np.zeros_like(image, dtype=np.uint8)
    markers[image < 30] = 1
    markers[image > 150] = 2
    seg = watershed(elevation, markers) == 2
    seg = ndi.binary_fill_holes(seg)
    return seg.astype(np.uint8)


def demo_views() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, image, labels): the coins photo and seven crops, flips and rotations of it."""
    from skimage import data

    coins = data.coins()
    labels = coins_mask(coins)
    views = [("coins-full", coins, labels)]
    h, w = coins.shape
    crops = [(0, 0), (0, w - 256), (h - 256, 0), (h - 256, w - 256), (24, 64)]
    for i, (y, x) in enumerate(crops):
        img, lab = coins[y : y + 256, x : x + 256], labels[y : y + 256, x : x + 256]
        if i % 2:
            img, lab = img[:, ::-1], lab[:, ::-1]
        views.append((f"coins-crop{i + 1}", img, lab))
    views.append(("coins-rot90", np.rot90(coins), np.rot90(labels)))
    views.append(("coins-flipped", coins[::-1], labels[::-1]))
    return [(n, np.ascontiguousarray(a), np.ascontiguousarray(b)) for n, a, b in views]


def demo_project_ready(root: Path | None = None) -> bool:
    """True once the demo project exists (then ``ensure_demo_project`` returns at once)."""
    return ((Path(root) if root else data_dir() / "demo") / "segapp.json").exists()


def ensure_demo_project(root: Path | None = None) -> Path:
    """Create the demo project if it is not there yet; return its folder."""
    from segapp.core.imageio import write_mask, write_png_atomic
    from segapp.core.project import Project

    root = Path(root) if root else data_dir() / "demo"
    if demo_project_ready(root):
        return root
    (root / "images").mkdir(parents=True, exist_ok=True)
    views = demo_views()
    for name, image, _ in views:
        write_png_atomic(root / "images" / f"{name}.png", image)
    for name, _, labels in views[:2]:
        write_mask(root / "masks" / f"{name}.png", labels * 255)
    project = Project.open(root)
    project.save()
    return root


def demo_model() -> Path | None:
    """The shipped demo checkpoint folder, or None if this install lacks it."""
    return DEMO_MODEL_DIR if (DEMO_MODEL_DIR / "model.safetensors").exists() else None


def run_headless_demo() -> int:
    """``segapp demo --headless``: propose masks on the demo images and score them."""
    from segapp.core.project import Project
    from segapp.ml.checkpoint import load_model
    from segapp.ml.device import resolve_device
    from segapp.ml.infer import Predictor
    from segapp.ml.metrics import iou

    root = ensure_demo_project()
    model_dir = demo_model()
    if model_dir is None:
        print("segapp: error: the demo model is missing from this install", file=sys.stderr)
        return 2
    device = resolve_device("auto")
    predictor = Predictor(load_model(model_dir, device), device)
    project = Project.open(root)
    truth = {name: labels for name, _, labels in demo_views()}
    print(f"demo project: {root}\nmodel: {model_dir} on {predictor.device_name}")
    for entry in project.entries:
        image = project.read_image(entry)
        pred = predictor.predict_labels(image)
        score = iou(pred, truth[entry.stem])
        print(f"{entry.stem:16} {image.shape[1]}x{image.shape[0]}  IoU vs watershed {score:.3f}")
    return 0
