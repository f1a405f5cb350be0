"""Time to switch to the next image (D) on large images, with and without prefetching.

    python benchmarks/bench_switch.py [--size 8192] [--images 4]

Writes SIZExSIZE RGB PNGs into a temporary project, opens it in a LabelSession (the window's
controller) and times ``select`` of each next image on the GUI thread: once with the
background prefetch (after a short pause on each image, as a person looks at it) and once
with prefetching turned off. Figures only, no asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QCoreApplication

from segapp.ui.labeling.session import LabelSession


def _write_images(folder: Path, size: int, count: int) -> None:
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    base = np.dstack([xx % 256, yy % 256, (xx + yy) % 256]).astype(np.uint8) // 2
    for i in range(count):
        noise = rng.integers(0, 32, base.shape, dtype=np.uint8)
        cv2.imwrite(str(folder / "images" / f"{i}.png"), base + noise)


def _switch_times(folder: Path, prefetch: bool, pause: float) -> list[float]:
    session = LabelSession()
    if not prefetch:
        session.prefetcher.prefetch = lambda paths: None
    session.open_project(folder)
    stems = [e.stem for e in session.project.entries]
    session.select(stems[0])
    times = []
    for stem in stems[1:]:
        time.sleep(pause)  # the person looks at the image; the prefetch decodes the next
        t0 = time.perf_counter()
        session.select(stem)
        times.append(time.perf_counter() - t0)
    session.close_project()
    session.prefetcher.shutdown()
    session.engine.shutdown()
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--pause", type=float, default=2.0, help="seconds spent on each image")
    args = ap.parse_args()
    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])  # noqa: F841
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "project"
        _write_images(folder, args.size, args.images)
        print(f"{args.images} images of {args.size}x{args.size} RGB PNG, {args.pause:g} s on each")
        for prefetch in (False, True):
            t = [x * 1000 for x in _switch_times(folder, prefetch, args.pause)]
            print(
                f"  prefetch {'on ' if prefetch else 'off'}: switch to the next image "
                f"median {statistics.median(t):7.1f} ms, max {max(t):7.1f} ms (GUI thread)",
                flush=True,
            )


if __name__ == "__main__":
    main()
