"""One training round on the first K images, scored on images it never saw: for ablations.

    python benchmarks/bench_fewshot.py --k 10                        # the defaults
    python benchmarks/bench_fewshot.py --k 10 --set encoder_lr_scale=1.0
    python benchmarks/bench_fewshot.py --k 10 --set model='"pretrained-lite0"' --seed 1
    python benchmarks/bench_fewshot.py --k 10 --unlabeled 150 --set unlabeled=150
    python benchmarks/bench_fewshot.py --k 10 --one-pass             # also without the mirror
    python benchmarks/bench_fewshot.py --k 10 --propose-size 384 448 # also at other sizes
    python benchmarks/bench_fewshot.py --k 160 --device cuda         # on a GPU

On ../shared/datasets/human-segmentation: a project holding ids 1..K with their masks (and,
with --unlabeled N, ids K+1.. without masks) is trained in-process with segapp's defaults
(``TrainConfig``; ``--set key=JSON`` overrides one field), then the checkpoint proposes
masks for ids 161..200 as ``segapp predict`` would. Prints one JSON line: the training
time, the epochs run and the per-image and set IoU.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from segapp.core.imageio import to_rgb, write_png_atomic
from segapp.core.project import IGNORE_INDEX, Project
from segapp.ml.checkpoint import load_model
from segapp.ml.device import resolve_device
from segapp.ml.infer import Predictor
from segapp.ml.metrics import SegMetrics, iou
from segapp.ml.proposal_refine import refine_of
from segapp.ml.train import TrainConfig, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "human-segmentation"


def _numbered(folder: Path) -> dict[int, Path]:
    return {int(f.stem): f for f in folder.iterdir() if f.stem.isdigit()}


def build_project(data: Path, root: Path, k: int, unlabeled: int, test_lo: int) -> None:
    data = data.resolve()  # the project links to its files: a relative --data would dangle
    images, masks = _numbered(data / "images"), _numbered(data / "masks")
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in sorted(images):
        if i <= k:
            os.symlink(images[i], root / "images" / images[i].name)
            os.symlink(masks[i], root / "masks" / masks[i].name)
        elif i < min(test_lo, k + 1 + unlabeled):
            os.symlink(images[i], root / "images" / images[i].name)


def score(
    run: Path,
    data: Path,
    lo: int,
    hi: int,
    mirror: bool | None = None,
    device: str = "cpu",
    size: int | None = None,
    refine: str | None = None,
    closer: bool = True,
    overlays: Path | None = None,
) -> dict:
    """Proposals of a checkpoint on ids lo..hi as the window makes them (default backend,
    refined as the checkpoint says unless ``refine`` is given, with its mirrored pass unless
    ``mirror`` says otherwise), at ``size`` px instead of the training size if given; SegMetrics' figures, and
    the labelling's time per image (``labels_ms``: thresholding and any refinement).
    ``closer=False``: without a refining model's closer look (``closer_look.py``).
    ``per_image``: each image's figures (``image_errors``), worst first; ``overlays``: a
    folder to write each proposal's errors into as pictures (``error_overlay``)."""
    loaded = load_model(run, device)
    predictor = Predictor(loaded, device, resize_to=size, refine=refine, mirror=mirror)
    predictor.closer_look = closer
    source = Project.open(data)
    metrics = SegMetrics(2)
    times, per_image = [], []
    for e in source.entries:
        if e.stem.isdigit() and lo <= int(e.stem) <= hi:
            image = source.read_image(e)
            probs = predictor.propose(image)
            t0 = time.perf_counter()
            labels = predictor.to_labels(image, probs)
            times.append(1000 * (time.perf_counter() - t0))
            truth = source.read_labels(e, image.shape[:2])
            metrics.update(labels, truth)
            per_image.append({"stem": e.stem} | image_errors(labels, truth))
            if overlays is not None:
                name = f"{per_image[-1]['iou']:.3f}_{e.stem}.png"
                write_png_atomic(overlays / name, error_overlay(image, labels, truth))
    per_image.sort(key=lambda r: r["iou"])
    return metrics.compute() | {
        "labels_ms": float(np.mean(times)) if times else 0.0,
        "per_image": per_image,
    }


def worst(per_image: list[dict], n: int = 5) -> list[list]:
    """The ``n`` lowest of ``score``'s ``per_image``: [stem, IoU, claimed, missed] each."""
    return [[r["stem"], round(r["iou"], 3), r["claimed"], r["missed"]] for r in per_image[:n]]


def image_errors(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """One proposal against its mask: the IoU (``metrics.iou``, the figure the per-image
    mean averages), and the pixels wrongly claimed (``claimed``) and missed (``missed``),
    every class but background as one object, as shares of the object's own area, which say
    whether the proposal over-reaches or falls short."""
    valid = truth != IGNORE_INDEX
    pred, true = (labels > 0) & valid, (truth > 0) & valid
    area = max(1, int(true.sum()))
    return {
        "iou": iou(labels, truth),
        "claimed": round(int((pred & ~true).sum()) / area, 3),
        "missed": round(int((true & ~pred).sum()) / area, 3),
    }


def error_overlay(image: np.ndarray, labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The image (RGB) tinted green where the proposal is right about the object, red where
    it claims background and blue where it misses the object; the red and blue regions are
    also outlined, so they show on objects of their own colour."""
    out = to_rgb(image).astype(np.float32)
    pred, true = labels > 0, (truth > 0) & (truth != IGNORE_INDEX)
    wrong = ((pred & ~true, (255, 0, 0)), (true & ~pred, (0, 0, 255)))
    for where, tint in ((pred & true, (0, 160, 0)), *wrong):
        out[where] = 0.5 * out[where] + 0.5 * np.array(tint, np.float32)
    out = out.astype(np.uint8)
    width = max(1, round(max(out.shape[:2]) / 320))
    for where, tint in wrong:
        edges, _ = cv2.findContours(where.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, edges, -1, tint, width)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--k", type=int, default=10, help="train on ids 1..K")
    p.add_argument("--test", default="161-200", help="score on these ids")
    p.add_argument("--unlabeled", type=int, default=0, help="ids K+1.. in the project, no masks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda: training and proposals")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=JSON")
    p.add_argument("--one-pass", action="store_true", help="also score without the mirrored pass")
    p.add_argument(
        "--propose-size",
        type=int,
        nargs="*",
        default=[],
        metavar="PX",
        help="also score proposals made at these sizes (resize-mode models)",
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = Path(args.data)
    lo, hi = (int(v) for v in args.test.split("-"))
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = json.loads(value)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        build_project(data, root, args.k, args.unlabeled, lo)
        device = str(resolve_device(args.device))
        cfg = TrainConfig(
            data=str(root), out=str(root / "run"), seed=args.seed, device=device, **overrides
        )
        t0 = time.perf_counter()
        epochs = [m.epoch for m in train(cfg)]
        seconds = time.perf_counter() - t0
        result = {
            "k": args.k,
            "seed": args.seed,
            "set": overrides,
            "train_s": round(seconds, 1),
            "epochs": epochs[-1],
            "device": device,
        }
        for mirror in (None, False) if args.one_pass else (None,):
            r = score(root / "run", data, lo, hi, mirror, device=device)
            key = "one_pass_" if mirror is False else ""
            result[f"{key}image_iou"] = round(r["mean_image_iou"], 4)
            result[f"{key}iou"] = round(r["iou"], 4)
            if mirror is None:  # where the shipped proposals go wrong most
                result["worst"] = worst(r["per_image"])
        result["refine"] = refine_of(root / "run")
        if result["refine"] != "none":  # the gain of refining
            r = score(root / "run", data, lo, hi, device=device, refine="none")
            result["unrefined_image_iou"] = round(r["mean_image_iou"], 4)
        for size in args.propose_size:
            r = score(root / "run", data, lo, hi, device=device, size=size)
            result[f"at{size}_image_iou"] = round(r["mean_image_iou"], 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
