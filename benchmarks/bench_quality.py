"""Validation IoU of a preset on a real data set, trained through the same engine as the CLI.

    python benchmarks/bench_quality.py --preset pretrained-lite0 --epochs 20
    python benchmarks/bench_quality.py --preset unet-small --epochs 40 --lr 3e-3

Defaults: ../shared/datasets/human-segmentation, 320x320 resized, 20% validation held out by
a stable hash of the file stem (seed 0). Prints one line per epoch and a summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from segapp.ml.train import TrainConfig, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "human-segmentation"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="pretrained-lite0")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--loss", default="bce-dice")
    p.add_argument("--out", default="/tmp/segapp-bench-quality")
    args = p.parse_args()
    out = Path(args.out) / args.preset
    config = TrainConfig(
        data=args.data,
        out=str(out),
        model=args.preset,
        epochs=args.epochs,
        size=args.size,
        batch_size=args.batch_size,
        lr=args.lr,
        loss=args.loss,
        patience=args.epochs,
        device="auto",
    )
    t0 = time.perf_counter()
    last = None
    for m in train(config):
        last = m
        print(json.dumps(m.to_dict()), flush=True)
    minutes = (time.perf_counter() - t0) / 60
    print(
        f"\n{args.preset}: best val IoU {last.best_iou:.4f} (epoch {last.best_epoch}/{args.epochs}), "
        f"{minutes:.1f} min on this machine; data {args.data}, size {args.size}, "
        f"batch {args.batch_size}, lr {args.lr}, loss {args.loss}; checkpoint {out}"
    )


if __name__ == "__main__":
    main()
