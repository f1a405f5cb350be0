"""What saving one mask costs the GUI thread in a project of many images (autosave, switching).

    python benchmarks/bench_autosave.py [--images 10000] [--mask 512] [--saves 200]

Makes a project of IMAGES tiny images (one copied PNG each) with a segapp.json that lists
them all, then times ``Project.write_labels`` (the call autosave makes: the mask PNG plus
the image's status) for proposals and corrections, the mask write alone, the status write
alone (a journal line; synced before a proposal's mask), one full ``Project.save()``
(segapp.json rewritten whole), and opening the project with the statuses of SAVES masks
still in the journal. Works on any segapp version (older ones rewrote segapp.json in every
``write_labels``). Figures only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from segapp.core.imageio import write_mask
from segapp.core.project import Project


def make_project(root: Path, n: int) -> Project:
    (root / "images").mkdir(parents=True)
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    data = png.tobytes()
    for i in range(n):
        (root / "images" / f"img{i:05d}.png").write_bytes(data)
    project = Project.open(root)
    project.save()
    return project


def timed(fn, repeat: int) -> list[float]:
    out = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def line(name: str, ms: list[float]) -> None:
    print(f"  {name:44s} median {statistics.median(ms):7.2f} ms   max {max(ms):7.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--mask", type=int, default=512, help="mask side in pixels")
    ap.add_argument("--saves", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    labels = np.zeros((args.mask, args.mask), np.uint8)
    cv2.circle(labels, (args.mask // 2, args.mask // 2), args.mask // 3, 1, -1)
    labels[rng.random(labels.shape) < 0.01] ^= 1  # a ragged edge, as painted masks have
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "p", args.images)
        entries, n = project.entries, args.saves
        print(f"{args.images} images, {args.mask}x{args.mask} masks, {n} saves of each kind")
        mask = project.mask_from_labels(labels)
        alone = timed(lambda i: write_mask(entries[i].mask_path, mask), n)
        line("mask PNG alone (write_mask)", alone)
        for status, by in (("proposed", "v001"), ("corrected", None)):
            ms = timed(lambda i, s=status, b=by: project.write_labels(entries[i], labels, s, b), n)
            line(f"write_labels, {status}", ms)
        try:  # the status alone, where it is a journal line
            from segapp.core.journal import append_record
        except ImportError:  # older segapp: the status was segapp.json rewritten (below)
            append_record = None
        if append_record is not None:
            record = {"status": "proposed", "proposed_by": "v001", "proposal_iou": None}
            for sync in (True, False):
                ms = timed(lambda i, s=sync: append_record(project.journal_path, "x", record, s), n)
                line(f"status alone: a journal line{', synced' if sync else ''}", ms)
        line("segapp.json rewritten whole (Project.save)", timed(lambda i: project.save(), 20))
        for i in range(n):  # statuses saved since the last full write (a journal, if any)
            project.write_labels(entries[i], labels, "corrected")
        line("open the project", timed(lambda i: Project.open(project.root), 5))


if __name__ == "__main__":
    main()
