"""The labeling loop, scripted through the code the window uses (segapp.ml.versions).

    python benchmarks/bench_active_loop.py [--rounds 10,40,160] [--seeds 0,1]
        [--order suggested] [--train-args=--keep-aspect] [--device cuda] [--quick]

For each seed, on a copy of ../shared/datasets/human-segmentation holding ids 1..160
without masks: "correct" N images by the round's end (take their ground truth): the first N
in file order, or with ``--order suggested`` the images the window's "Suggest next image"
picks one after another (segapp.core.diversity: farthest-first from those corrected, the
first image to start, each distance weighted by the active version's uncertainty on the
image once there is one, segapp.ml.uncertainty; ``--order layout``: the colour layout
alone); then train a version with the window's default settings (plus
``--train-args``, for ablations) in a separate `segapp train` process (the
window's command, its time budget included; the process is started ahead and handed the
round, as the window does, unless ``--cold``), promote it as the window does, and let the
active version propose masks for the held-out ids 161..200, which no round ever sees.
Prints one line per round and a table of per-image IoU (mean over seeds) and round time;
``unrefined``: the same proposals without the refinement the checkpoint chose
(segapp.ml.proposal_refine), for its gain; ``no closer look``: refined, without the closer
look at the object (segapp.ml.closer_look), for its gain; ``one pass``: without the mirrored
pass averaged in (segapp.ml.tiling.mirrors), for its gain.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_fewshot import score, worst  # same folder: proposals scored one way

from segapp.core.diversity import farthest_first, signature
from segapp.core.imageio import read_mask
from segapp.core.project import Project
from segapp.ml import proposal_refine, uncertainty, versions
from segapp.ml.device import resolve_device
from segapp.ml.registry import DEFAULT_PRESET

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "human-segmentation"


def _ids(spec: str) -> tuple[int, int]:
    lo, hi = spec.split("-")
    return int(lo), int(hi)


def _copy_images(data: Path, root: Path, lo: int, hi: int) -> None:
    (root / "images").mkdir(parents=True)
    for f in (data / "images").iterdir():
        if f.stem.isdigit() and lo <= int(f.stem) <= hi:
            os.symlink(f.resolve(), root / "images" / f.name)  # --data may be relative


def _weights(project: Project, device: str, signatures: dict, done: list[str]) -> dict | None:
    """The active version's uncertainty on the images not corrected yet, as the window's
    suggestion weighs them (None before the first version)."""
    active = versions.active_version(project)
    if active is None:
        return None
    todo = uncertainty.candidates(signatures, done)  # no deadline here: all are read
    return uncertainty.score_images(project, active.path, todo, device)


def start_standby() -> subprocess.Popen:
    """The round's process started ahead, as the window starts it (stdin, stdout, stderr piped)."""
    return subprocess.Popen(
        versions.STANDBY_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(standby: subprocess.Popen | None) -> None:
    """Until the process started ahead has its imports: a person correcting the round's
    images takes longer than they do (about 10 s on a 2-core CPU)."""
    if standby is not None and '"ready"' not in standby.stdout.readline():
        raise SystemExit(f"train-standby did not start:\n{standby.communicate()[1][-2000:]}")


def _run_round(cmd: list[str], standby: subprocess.Popen | None):
    """The round's ``segapp train``: in the process started ahead, as the window runs it,
    or in a process of its own (``--cold``)."""
    if standby is None:
        return subprocess.run(cmd, capture_output=True, text=True)
    assert cmd[: len(versions.TRAIN_COMMAND)] == versions.TRAIN_COMMAND
    stdout, stderr = standby.communicate(json.dumps(cmd[len(versions.TRAIN_COMMAND) :]) + "\n")
    return subprocess.CompletedProcess(cmd, standby.returncode, stdout, stderr)


def run_seed(args, seed: int, device: str) -> list[dict]:
    data = Path(args.data)
    pool_lo, pool_hi = _ids(args.pool)
    test_lo, test_hi = _ids(args.test)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        _copy_images(data, root, pool_lo, pool_hi)
        project = Project.open(root)
        project.save()
        stems = [e.stem for e in project.entries]  # natural order: 1, 2, ... 160
        if args.order in ("suggested", "layout"):
            signatures = {e.stem: signature(project.read_image(e)) for e in project.entries}
        for n in (int(x) for x in args.rounds.split(",")):
            # the window starts the round's process ahead, while the person corrects
            standby = None if args.cold else start_standby()
            t_suggest = time.perf_counter()
            to_correct = stems[:n]  # the person corrects the first n images, or the suggested
            if args.order in ("suggested", "layout"):
                done = [e.stem for e in project.entries if e.status == "corrected"]
                weights = (
                    _weights(project, device, signatures, done)
                    if args.order == "suggested"
                    else None
                )
                to_correct = done + farthest_first(signatures, done, n - len(done), weights)
            for stem in to_correct:
                entry = project.entry(stem)
                if entry.status != "corrected":
                    truth = read_mask(data / "masks" / f"{stem}.png")
                    image = project.read_image(entry)
                    labels = project.fit_labels(truth, image.shape[:2], stem)
                    project.write_labels(entry, labels, "corrected")
            wait_ready(standby)
            t0 = time.perf_counter()  # the round: training and promotion, not the suggestions
            train_stems, val_stems = versions.training_selection(project)
            active = versions.active_version(project)
            base = str(active.path) if active and not args.fresh else args.base
            out = versions.next_version_dir(project)
            cmd = versions.train_command(
                project, out, base, train_stems, val_stems, device=device, seed=seed
            )
            cmd += shlex.split(args.train_args)  # ablations: e.g. --keep-aspect
            proc = _run_round(cmd, standby)
            if proc.returncode != 0:
                raise SystemExit(f"segapp train failed:\n{proc.stderr[-2000:]}")
            train_s = time.perf_counter() - t0
            promoted, new_iou, old_iou = versions.promote_if_better(project, out, val_stems, device)
            round_s = time.perf_counter() - t0
            active = versions.active_version(project)
            if args.keep:  # the active version, to score again without training
                keep = Path(args.keep) / f"{args.order}_s{seed}_r{n}"
                shutil.copytree(active.path, keep, dirs_exist_ok=True)
            scores = score(active.path, data, test_lo, test_hi, device=device)
            if args.quick:  # the shipped proposals alone
                raw = no_closer = one_pass = {"mean_image_iou": float("nan")}
            else:
                raw = score(active.path, data, test_lo, test_hi, device=device, refine="none")
                no_closer = score(active.path, data, test_lo, test_hi, device=device, closer=False)
                one_pass = score(active.path, data, test_lo, test_hi, device=device, mirror=False)
            epochs = [json.loads(x) for x in proc.stdout.splitlines() if '"epoch"' in x]
            row = {
                "seed": seed,
                "corrected": n,
                "version": out.name,
                "base": Path(base).name,
                "train": len(train_stems),
                "val": len(val_stems),
                "epochs": epochs[-1]["epoch"] if epochs else 0,
                "promoted": promoted,
                "val_iou": new_iou,
                "active_val_iou": old_iou,
                "iou": scores["iou"],
                "image_iou": scores["mean_image_iou"],
                "refine": proposal_refine.refine_of(active.path),
                "unrefined_image_iou": raw["mean_image_iou"],  # the gain of refining
                # the gain of the closer look
                "no_closer_look_image_iou": no_closer["mean_image_iou"],
                # the gain of the mirrored pass (tiling.mirrors)
                "one_pass_image_iou": one_pass["mean_image_iou"],
                # the lowest proposals: [stem, IoU, claimed, missed] (bench_fewshot.worst)
                "worst": worst(scores["per_image"]),
                "labels_ms": round(scores["labels_ms"], 1),  # refining: its cost a proposal
                "train_s": train_s,
                "round_s": round_s,
                "suggest_s": t0 - t_suggest,  # choosing (and "correcting") the images
                "epoch_s": [round(e["seconds"], 1) for e in epochs],  # training + validation
            }
            if args.order in ("suggested", "layout"):
                row["corrected_stems"] = to_correct
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--rounds", default="10,40,160")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--pool", default="1-160", help="ids in the project (corrected in order)")
    p.add_argument("--test", default="161-200", help="held-out ids scored after each round")
    p.add_argument("--base", default=DEFAULT_PRESET)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--order",
        choices=("first", "suggested", "layout"),
        default="first",
        help="which images are corrected: the first N, those 'Suggest next image' picks, or "
        "those it picked on the colour layout alone (before it weighed uncertainty)",
    )
    p.add_argument(
        "--train-args",
        default="",
        help="more `segapp train` options (ablations: --train-args=--keep-aspect)",
    )
    p.add_argument(
        "--cold",
        action="store_true",
        help="each round in a `segapp train` process started at its click, not the one the "
        "window starts ahead (train-standby), as before stop 46",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="each round trains a new network from --base (an ablation); without it a round "
        "continues from the active version, as the window's rounds do",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="score the shipped proposals only, not the unrefined / no closer look / one pass",
    )
    p.add_argument(
        "--keep",
        default="",
        help="copy each round's active version to KEEP/ORDER_sSEED_rN (to score it again)",
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = str(resolve_device(args.device))
    print(
        f"device {device}; rounds {args.rounds}; seeds {args.seeds}; test ids {args.test}; "
        f"order {args.order}{'; train ' + args.train_args if args.train_args else ''}"
    )
    rows = [r for s in args.seeds.split(",") for r in run_seed(args, int(s), device)]
    print(
        "\n| corrected images | per-image IoU (seeds) | mean | set IoU | unrefined: per-image IoU "
        "| no closer look | one pass | round time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in sorted({r["corrected"] for r in rows}):
        rs = [r for r in rows if r["corrected"] == n]
        each = ", ".join(f"{r['image_iou']:.3f}" for r in rs)
        mean = statistics.mean(r["image_iou"] for r in rs)
        set_iou = statistics.mean(r["iou"] for r in rs)
        raw = statistics.mean(r["unrefined_image_iou"] for r in rs)
        no_closer = statistics.mean(r["no_closer_look_image_iou"] for r in rs)
        one_pass = statistics.mean(r["one_pass_image_iou"] for r in rs)
        t = statistics.mean(r["round_s"] for r in rs)
        figures = " | ".join(f"{x:.3f}" for x in (mean, set_iou, raw, no_closer, one_pass))
        print(f"| {n} | {each} | {figures} | {t / 60:.1f} min |")
    for n in sorted({r["corrected"] for r in rows}):  # the images that hold the means down
        seen = collections.Counter(w[0] for r in rows if r["corrected"] == n for w in r["worst"])
        often = ", ".join(f"{stem} ({k})" for stem, k in seen.most_common(6))
        print(f"after {n} images, most often among a version's five worst (versions): {often}")


if __name__ == "__main__":
    main()
