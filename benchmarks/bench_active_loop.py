"""The labeling loop, scripted through the code the window uses (segapp.ml.versions).

    python benchmarks/bench_active_loop.py [--rounds 10,20,40] [--epochs 15]

On a copy of ../shared/datasets/human-segmentation without masks: "correct" N images (take
their ground truth), train a version in a separate `segapp train` process (the window's
command), let the active version propose the next 20 images, and record the proposals' IoU
against the ground truth. Prints one line per round (IoU, minutes).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from segapp.core.imageio import read_mask
from segapp.core.project import Project
from segapp.ml import versions
from segapp.ml.checkpoint import load_model
from segapp.ml.device import resolve_device
from segapp.ml.infer import Predictor
from segapp.ml.metrics import SegMetrics

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "human-segmentation"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--rounds", default="10,20,40")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--base", default="pretrained-lite0")
    p.add_argument("--propose", type=int, default=20)
    args = p.parse_args()
    data = Path(args.data)
    device = str(resolve_device("auto"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        shutil.copytree(data / "images", root / "images")
        project = Project.open(root)
        project.save()
        stems = [e.stem for e in project.entries]
        print(f"project copy: {len(stems)} images, device {device}")
        for n in (int(x) for x in args.rounds.split(",")):
            t0 = time.perf_counter()
            for stem in stems[:n]:  # the person corrects the first n images
                entry = project.entry(stem)
                if entry.status != "corrected":
                    truth = read_mask(data / "masks" / f"{stem}.png")
                    image = project.read_image(entry)
                    labels = project.fit_labels(truth, image.shape[:2], stem)
                    project.write_labels(entry, labels, "corrected")
            train_stems, val_stems = versions.training_selection(project)
            active = versions.active_version(project)
            base = str(active.path) if active else args.base
            out = versions.next_version_dir(project)
            cmd = versions.train_command(
                project,
                out,
                base,
                train_stems,
                val_stems,
                epochs=args.epochs,
                size=args.size,
                device=device,
            )
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            promoted, new_iou, old_iou = versions.promote_if_better(project, out, val_stems, device)
            train_min = (time.perf_counter() - t0) / 60
            active = versions.active_version(project)
            predictor = Predictor(load_model(active.path, device), device)
            metrics = SegMetrics(2)
            for stem in stems[n : n + args.propose]:
                entry = project.entry(stem)
                image = project.read_image(entry)
                truth = project.fit_labels(
                    read_mask(data / "masks" / f"{stem}.png"), image.shape[:2], stem
                )
                metrics.update(predictor.predict_labels(image), truth)
            scores = metrics.compute()
            print(
                f"round {n:3d} corrected: trained {out.name} from {Path(base).name} "
                f"({len(train_stems)} train / {len(val_stems)} val), val IoU {new_iou:.4f}"
                f"{'' if old_iou is None else f' vs active {old_iou:.4f}'}"
                f"{' -> active' if promoted else ''}; proposals on the next {args.propose}: "
                f"IoU {scores['iou']:.4f}, mean per image {scores['mean_image_iou']:.4f}; "
                f"{train_min:.1f} min train+promote, "
                f"{(time.perf_counter() - t0) / 60:.1f} min round",
                flush=True,
            )


if __name__ == "__main__":
    main()
