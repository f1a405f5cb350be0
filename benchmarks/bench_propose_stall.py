"""How long the GUI thread stalls while the model proposes (the window must stay fluid).

    python benchmarks/bench_propose_stall.py [--size 1024] [--model pretrained-lite1] [--no-export]

Opens the real window (offscreen unless $DISPLAY is set) on a folder with one SIZExSIZE
image and a checkpoint of MODEL in ``models/v001`` (built, not trained; with its ONNX export
in a fresh cache unless ``--no-export``), lets it show and settle with the model engine held
back, and while a 5 ms QTimer records the gaps between its ticks on the GUI thread: (1) an
idle second (this machine's noise floor), (2) the model engine loads, (3) a first proposal
runs (the model is built, then predicts), (4) a second one runs (model cached). The
proposal phases end when the proposal is applied to the document and the overlay. Prints
the max, p99 and median gap per phase in ms (5 ms = no stall), and whether the window's
process imported torch. Figures only, no asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


class GapRecorder:
    def __init__(self, interval_ms: int = 5) -> None:
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.gaps: list[float] = []

    def start(self) -> None:
        self.gaps = []
        self.last = time.perf_counter()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self.last) * 1000)
        self.last = now

    def stop(self) -> list[float]:
        self._tick()
        self.timer.stop()
        return self.gaps


def run_until(app: QApplication, done, timeout: float = 600) -> float:
    t0 = time.perf_counter()
    while not done():
        app.processEvents()
        time.sleep(0.0005)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("gave up waiting")
    return time.perf_counter() - t0


def report(name: str, seconds: float, gaps: list[float]) -> None:
    g = np.asarray(gaps)
    print(
        f"{name:34s} {seconds:6.2f} s   gap max {g.max():7.1f} ms  p99 {np.percentile(g, 99):6.1f} ms"
        f"  median {np.median(g):5.1f} ms  ({len(g)} ticks)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--model", default="pretrained-lite1", help="preset of the checkpoint")
    ap.add_argument("--no-export", action="store_true", help="no cached ONNX export")
    args = ap.parse_args()
    app = QApplication(sys.argv[:1])
    from bench_startup import make_checkpoint

    from segapp.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        (root / "images").mkdir(parents=True)
        os.environ["SEGAPP_CACHE"] = str(Path(tmp) / "cache")  # the engine's too
        make_checkpoint(root / "models" / "v001", args.model, not args.no_export, {})
        print(f"{args.model} checkpoint, ONNX export cached: {not args.no_export}")
        rng = np.random.default_rng(0)
        img = rng.integers(0, 255, (args.size, args.size, 3), np.uint8)
        cv2.circle(img, (args.size // 2, args.size // 2), args.size // 4, (255, 255, 255), -1)
        cv2.imwrite(str(root / "images" / "big.png"), img)
        win = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        win.session.confirm = lambda title, text: True
        rec = GapRecorder()
        engine = win.session.engine
        engine.start = lambda: None  # held back until the window has shown and settled
        win.show()
        win.open_path(root)
        t0 = time.perf_counter()
        run_until(app, lambda: time.perf_counter() - t0 > 1.0)
        rec.start()  # the noise floor: an idle window on this machine now
        t0 = time.perf_counter()
        secs = run_until(app, lambda: time.perf_counter() - t0 > 1.0)
        report("idle window (reference)", secs, rec.stop())
        del engine.start  # the class's again
        rec.start()
        engine.start()
        secs = run_until(app, lambda: engine.ready or engine.failed)
        report("engine load", secs, rec.stop())
        print(f"device: {engine.device_name}")
        for name in ("first proposal (model build)", "second proposal (model cached)"):
            rec.start()
            win.propose()
            secs = run_until(app, lambda: not win.session._pending)
            report(name, secs, rec.stop())
            if win.last_error:
                print("error:", win.last_error)
        print(f"torch imported by the window's process: {'torch' in sys.modules}")
        win.session.doc.mark_saved()  # nothing to write on close
        win.close()


if __name__ == "__main__":
    main()
