"""Training throughput: `segapp train` against a plain PyTorch loop, same network and data.

    python benchmarks/bench_train_speed.py [--size 256] [--batch 8] [--epochs 2]

On ../shared/datasets/human-segmentation (200 pairs): the engine's path (decode and resize
once, albumentations "light", channels-last, frozen BatchNorm statistics and early encoder
layers, no validation) against the loop a person would write: tensors resized beforehand,
no augmentation, AdamW, the whole network learning. Prints seconds per epoch (the first
epoch left out, it warms up) and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from segapp.core.project import Project
from segapp.ml.checkpoint import load_model
from segapp.ml.losses import make_loss
from segapp.ml.preprocess import to_model_input
from segapp.ml.registry import DEFAULT_PRESET
from segapp.ml.train import TrainConfig, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "human-segmentation"


def engine_epochs(data: Path, size: int, batch: int, epochs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            data=str(data),
            out=out,
            epochs=epochs,
            size=size,
            batch_size=batch,
            augment="light",
            val_fraction=0.0,
            device="cpu",
            time_budget=0,
        )
        return [m.seconds for m in train(cfg)]


def plain_epochs(data: Path, size: int, batch: int, epochs: int) -> list[float]:
    project = Project.open(data)
    loaded = load_model(DEFAULT_PRESET, "cpu", classes=1)
    model = loaded.model.train()
    xs, ys = [], []
    for e in project.labeled():
        img = project.read_image(e)
        lab = project.read_labels(e, img.shape[:2])
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        xs.append(to_model_input(img, loaded.spec))
        ys.append(cv2.resize(lab, (size, size), interpolation=cv2.INTER_NEAREST))
    x_all = torch.from_numpy(np.stack(xs))
    y_all = torch.from_numpy(np.stack(ys).astype(np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = make_loss("bce-dice", 1)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(x_all))
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i : i + batch]
            loss = loss_fn(model(x_all[idx]), y_all[idx], None)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = Path(args.data)
    engine = engine_epochs(data, args.size, args.batch, args.epochs)
    plain = plain_epochs(data, args.size, args.batch, args.epochs)
    e = statistics.mean(engine[1:] or engine)
    q = statistics.mean(plain[1:] or plain)
    print(f"segapp train: {e:.1f} s/epoch  {[round(t, 1) for t in engine]}")
    print(f"plain loop:   {q:.1f} s/epoch  {[round(t, 1) for t in plain]}")
    print(f"segapp train runs at {q / e:.2f}x the plain loop's speed")


if __name__ == "__main__":
    main()
