"""Does the window stay fluid while a model trains in the background?

    python benchmarks/bench_train_stall.py [--images 40] [--epochs 5] [--size 128]
                                           [--model unet-small] [--device cpu]

Opens the real window (offscreen unless $DISPLAY is set) on a generated folder of
IMAGES corrected image/mask pairs, starts a training from its Train panel (a separate
``segapp train`` process), and while a 5 ms QTimer records the gaps between its ticks on
the GUI thread prints:

- the longest GUI-thread stall (max / p99 / median gap) during the run, and after it while
  the new version is scored against the active one in a worker thread;
- per epoch, the time from the epoch's JSON line arriving from the process to the next
  paint of the plot that shows its point (5 ms = no stall).

Figures only, no asserts.
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

from PySide6.QtCore import QEvent, QObject, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_propose_stall import GapRecorder, report, run_until  # noqa: E402


def make_pairs(root: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        for _ in range(3):
            r = int(rng.integers(size // 10, size // 4))
            c = rng.integers(r, size - r, 2)
            cv2.circle(mask, (int(c[0]), int(c[1])), r, 255, -1)
        img = np.clip(rng.normal(60, 20, (size, size)) + (mask > 0) * 120, 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"{i}.png"), cv2.merge([img, img // 2 + 40, 255 - img]))
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)


class PaintWatch(QObject):
    """Records when a widget paints."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.times: list[float] = []
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.times.append(time.perf_counter())
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--model", default="unet-small")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    app = QApplication(sys.argv[:1])
    from segapp.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        make_pairs(root, args.images, 2 * args.size)
        win = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        win.session.confirm = lambda title, text: True
        win.resize(1400, 900)
        win.show()
        win.open_path(root)
        win.training.show()
        panel = win.training.train_panel
        run_until(app, lambda: panel.plots is not None, 10)
        panel.form.set_values(
            base=args.model, epochs=args.epochs, size=args.size, batch_size=8, device=args.device
        )
        # a person opens the panel once the window is settled: engine loaded, estimate shown
        panel.update_estimate()
        settle = run_until(
            app,
            lambda: (
                (win.session.engine.ready or win.session.engine.failed)
                and not panel.estimate_label.measuring
            ),
            300,
        )
        print(f"settled in {settle:.1f} s; estimate: {panel.estimate_label.text()}")
        paints = PaintWatch(panel.plots.metric_plot.viewport())
        arrivals: list[float] = []
        proc = panel.process
        original = proc._handle_line

        def handle_line(line: str) -> None:
            if '"event": "epoch"' in line:
                arrivals.append(time.perf_counter())
            original(line)

        proc._handle_line = handle_line
        rec = GapRecorder()
        rec.start()
        t0 = time.perf_counter()
        if not panel.start_training():
            print("could not start:", panel.error_label.text())
            return
        secs = run_until(app, lambda: not panel.running, 1200)
        gaps = rec.stop()
        report(f"training ({len(arrivals)} epochs)", secs, gaps)
        first = arrivals[0] - t0 if arrivals else float("nan")
        print(f"first epoch line after {first:.2f} s (process start-up + data loading + epoch 1)")
        rec.start()
        secs = run_until(app, lambda: not panel.scoring, 600)
        report("scoring + promotion (worker thread)", secs, rec.stop())
        print("result:", panel.status_label.text() or panel.error_label.text())
        lat = []
        for t in arrivals:
            after = [p for p in paints.times if p >= t]
            if after:
                lat.append((after[0] - t) * 1000)
        if lat:
            print(
                f"epoch line -> point painted on the plot: max {max(lat):.1f} ms, "
                f"median {float(np.median(lat)):.1f} ms over {len(lat)} epochs"
            )
        win.close()


if __name__ == "__main__":
    main()
