"""Train the demo model shipped in models/demo-model (run once; takes minutes on a CPU).

    python scripts/make_demo_model.py [--epochs 40]

Trains ``unet-small`` on every view of the demo (scikit-image's coins with watershed masks)
through the same ``segapp.ml.train.train`` the CLI uses, then copies the best checkpoint.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from segapp.core.imageio import write_mask, write_png_atomic
from segapp.demo import DEMO_MODEL_DIR, demo_views
from segapp.ml.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        for name, image, labels in demo_views():
            write_png_atomic(data / "images" / f"{name}.png", image)
            write_mask(data / "masks" / f"{name}.png", labels * 255)
        out = Path(tmp) / "run"
        config = TrainConfig(
            data=str(data),
            out=str(out),
            model="unet-small",
            epochs=args.epochs,
            size=128,
            resize_mode="crop",
            batch_size=8,
            lr=3e-3,
            val_fraction=0.25,
            repeats=8,
            patience=args.epochs,
            augment="medium",
        )
        for m in train(config):
            print(f"epoch {m.epoch}: loss {m.train_loss:.4f} val IoU {m.val_iou:.4f}", flush=True)
        if DEMO_MODEL_DIR.exists():
            shutil.rmtree(DEMO_MODEL_DIR)
        DEMO_MODEL_DIR.mkdir(parents=True)
        for name in ("config.json", "model.safetensors", "metrics.csv"):
            shutil.copy(out / name, DEMO_MODEL_DIR / name)
    print(f"wrote {DEMO_MODEL_DIR}")


if __name__ == "__main__":
    main()
