"""Time to switch images on large images: the next one (D), and a far jump.

    python benchmarks/bench_switch.py [--size 8192] [--images 4]

Writes SIZExSIZE RGB PNGs into a temporary project, opens it in a LabelSession (the window's
controller) and times ``select`` of each next image on the GUI thread (how long it blocks,
and until the document is there): once with the background prefetch (after a short pause on
each image, as a person looks at it) and once with prefetching turned off. Then the real window (offscreen unless $DISPLAY is set) jumps
to an image nothing read ahead, while a 5 ms QTimer records the gaps between its ticks on
the GUI thread: the longest gap is the stall, until the image is on the canvas. Figures
only, no asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench_propose_stall import GapRecorder, run_until  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from segapp.ui.labeling.session import LabelSession  # noqa: E402


def _write_images(folder: Path, size: int, count: int) -> None:
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    base = np.dstack([xx % 256, yy % 256, (xx + yy) % 256]).astype(np.uint8) // 2
    for i in range(count):
        noise = rng.integers(0, 32, base.shape, dtype=np.uint8)
        cv2.imwrite(str(folder / "images" / f"{i}.png"), base + noise)


def _switch_times(
    app: QApplication, folder: Path, prefetch: bool, pause: float
) -> tuple[list[float], list[float]]:
    """(ms select blocked the GUI thread, ms until the document was there) per switch."""
    session = LabelSession()
    if not prefetch:
        session.prefetcher.prefetch = lambda paths: None
    session.open_project(folder)
    stems = [e.stem for e in session.project.entries]
    session.select(stems[0])
    run_until(app, lambda: session.doc is not None)
    blocked, ready = [], []
    for stem in stems[1:]:
        time.sleep(pause)  # the person looks at the image; the prefetch decodes the next
        t0 = time.perf_counter()
        session.select(stem)
        blocked.append((time.perf_counter() - t0) * 1000)
        run_until(app, lambda: session.doc is not None)
        ready.append((time.perf_counter() - t0) * 1000)
    session.close_project()
    session.prefetcher.shutdown()
    session.engine.shutdown()
    return blocked, ready


def far_jump(app: QApplication, folder: Path, settings: Path) -> None:
    """The window jumps from the first image to the last, none of them read ahead."""
    from segapp.ui.main_window import MainWindow

    # no thumbnails: their decodes of every 8192x8192 image in the list would share the CPU
    win = MainWindow(
        settings=QSettings(str(settings), QSettings.Format.IniFormat), thumbnails=False
    )
    win.session.prefetcher.prefetch = lambda paths: None
    win.show()
    win.open_path(folder)
    stems = [e.stem for e in win.session.project.entries]
    run_until(app, lambda: win.canvas.document() is not None)
    rec = GapRecorder()
    rec.start()
    t0 = time.perf_counter()
    win.session.select(stems[-1])
    returned = time.perf_counter() - t0
    shown = run_until(app, lambda: win.canvas.document() is not None and win.session.doc)
    gaps = rec.stop()
    print(
        f"  far jump (window): select returned in {returned * 1000:7.1f} ms, image shown after "
        f"{(returned + shown) * 1000:7.1f} ms; GUI thread stall (longest gap) {max(gaps):7.1f} ms",
        flush=True,
    )
    win.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--pause", type=float, default=2.0, help="seconds spent on each image")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "project"
        _write_images(folder, args.size, args.images)
        print(f"{args.images} images of {args.size}x{args.size} RGB PNG, {args.pause:g} s on each")
        for prefetch in (False, True):
            blocked, ready = _switch_times(app, folder, prefetch, args.pause)
            print(
                f"  prefetch {'on ' if prefetch else 'off'}: next image: select blocks the GUI "
                f"thread median {statistics.median(blocked):7.1f} ms (max {max(blocked):7.1f}), "
                f"document there after median {statistics.median(ready):7.1f} ms",
                flush=True,
            )
        far_jump(app, folder, Path(tmp) / "settings.ini")


if __name__ == "__main__":
    main()
