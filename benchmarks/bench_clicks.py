"""Clicks per mask: the simulated annotator (segapp/ml/click_eval.py) on held-out images.

    python benchmarks/bench_clicks.py --model DIR              # a trained checkpoint
    python benchmarks/bench_clicks.py --train 40               # segapp train on ids 1..40 first
    python benchmarks/bench_clicks.py --train 40 --train-args "--time-budget 300"
    python benchmarks/bench_clicks.py --model DIR --annotator casual   # clicks as people click

On ../shared/datasets/human-segmentation, ids ``--test`` (161-200): for the checkpoint's
refiner (``load_refiner(DIR)``) and for the model-free fallback (``load_refiner(None)``),
from the proposal and from an empty mask, NoC@85/90, the IoU after 1/3/5 clicks, the share
of clicks that made it worse and the brush annotator's dabs to 0.85/0.90 -- the table of
``segapp evaluate --clicks`` -- and the refine latency (mean/p95 ms a click) at the images'
size and on one image upscaled to ``--big`` px square. ``--train K`` runs the command the
Train panel runs (``segapp train``, default settings) on a project of ids 1..K (the
corrected images), as bench_fewshot.py builds it. ``--json``: one JSON line per row.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
from bench_fewshot import DATA, build_project  # same folder: the few-shot project, one way

from segapp.core.project import Project
from segapp.ml.click_eval import (
    binary_truth,
    casual_chooser,
    click_trace,
    latency_ms,
    project_samples,
    run_annotators,
)
from segapp.ml.evaluate import format_clicks_table


def train_model(data: Path, root: Path, k: int, test_lo: int, extra: list[str]) -> Path:
    """``segapp train`` (the window's command, default settings) on ids 1..k; the checkpoint."""
    build_project(data, root, k, 0, test_lo)
    out = root / "run"
    cmd = [sys.executable, "-m", "segapp.cli.main", "train", str(root), "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, "--json", *extra], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"segapp train failed:\n{proc.stderr[-2000:]}")
    logging.warning("trained on ids 1..%d in %.0f s: %s", k, time.perf_counter() - t0, out)
    return out


def big_latency(refiner, image, labels, side: int, clicks: int) -> dict[str, float]:
    """Refine latency on ``image`` upscaled to ``side`` x ``side``, from the proposal."""
    image = cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)
    labels = cv2.resize(labels, (side, side), interpolation=cv2.INTER_NEAREST)
    truth, ignore = binary_truth(labels)
    t0 = time.perf_counter()
    start = refiner.propose(image)
    propose_ms = (time.perf_counter() - t0) * 1000
    timings: list[float] = []
    click_trace(refiner, image, truth, start, clicks, ignore, timings)
    return {"propose_ms": round(propose_ms, 1), "clicks": len(timings)} | latency_ms(timings)


def spot_shares(spots: list[tuple[float, bool]]) -> dict[str, float]:
    """Of the negative and the positive clicks, the share after which the spot under the
    click says what the click said (``spot_agrees`` at least 0.8)."""
    out = {}
    for name, sign in (("negative_spot_ok", False), ("positive_spot_ok", True)):
        agree = [share >= 0.8 for share, positive in spots if positive is sign]
        out[name] = round(sum(agree) / len(agree), 3) if agree else float("nan")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="checkpoint folder to score")
    which.add_argument("--train", type=int, metavar="K", help="train on ids 1..K first")
    p.add_argument("--train-args", default="", help="more `segapp train` options (one string)")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--test", default="161-200", help="score on these ids")
    p.add_argument("--max-clicks", type=int, default=20)
    p.add_argument("--max-brush", type=int, help="dabs per image (default: --max-clicks)")
    p.add_argument("--big", type=int, default=4096, help="side of the upscaled image (0 = skip)")
    p.add_argument("--big-clicks", type=int, default=5, help="clicks timed on the upscaled image")
    p.add_argument("--device", default="cpu", help="where the refiner runs (the window: cpu)")
    p.add_argument(
        "--annotator",
        choices=("standard", "casual"),
        default="standard",
        help="where clicks go: the error's deepest point (standard) or, as a person clicks, "
        "a random point well inside the largest error (casual, seeded)",
    )
    p.add_argument("--json", action="store_true", help="one JSON line per row")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from segapp.ml.interactive import load_refiner  # the window's refiners

    data = Path(args.data)
    lo, hi = (int(v) for v in args.test.split("-"))
    source = Project.open(data)
    entries = [e for e in source.labeled() if e.stem.isdigit() and lo <= int(e.stem) <= hi]
    if not entries:
        raise SystemExit(f"{data}: no labeled ids {args.test}")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if args.train:
            extra = shlex.split(args.train_args)
            model = str(train_model(data, Path(tmp) / "project", args.train, lo, extra))
        rows = []
        for ref in (model, None):
            refiner = load_refiner(ref, args.device)
            for start in ("proposal", "empty"):
                timings: list[float] = []
                spots: list[tuple[float, bool]] = []
                chooser = casual_chooser(0) if args.annotator == "casual" else None
                samples = project_samples(source, entries)
                summary = run_annotators(
                    refiner,
                    samples,
                    args.max_clicks,
                    start,
                    timings,
                    args.max_brush,
                    chooser,
                    spots,
                )
                head = {"model": str(ref or "(none)"), "refiner": refiner.name, "from": start}
                rows.append(head | summary.to_dict() | latency_ms(timings) | spot_shares(spots))
                if args.json:
                    print(json.dumps(rows[-1]), flush=True)
            if args.big:
                image = source.read_image(entries[0])
                labels = source.read_labels(entries[0], image.shape[:2])
                big = big_latency(refiner, image, labels, args.big, args.big_clicks)
                big = {"refiner": refiner.name, "size": f"{args.big}x{args.big}"} | big
                if args.json:
                    print(json.dumps(big), flush=True)
                rows.append(big)
    if not args.json:
        print(format_clicks_table([r for r in rows if "from" in r]))
        for r in rows:
            size = r.get("size", "images' size")
            print(
                f"{r['refiner']:32} {r.get('from', ''):>8} at {size}: refine "
                f"{r['refine_ms_mean']:.1f} ms mean, {r['refine_ms_p95']:.1f} ms p95"
                + (f"; propose {r['propose_ms']:.1f} ms" if "propose_ms" in r else "")
                + (
                    f"; the spot under the click right after it: negative "
                    f"{r['negative_spot_ok']:.1%}, positive {r['positive_spot_ok']:.1%}"
                    if "negative_spot_ok" in r
                    else ""
                )
            )


if __name__ == "__main__":
    main()
