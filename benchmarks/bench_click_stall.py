"""The Click tool in the real window: click-to-mask latency and the GUI thread's stall.

    python benchmarks/bench_click_stall.py [--sizes 512 4096] [--model CHECKPOINT_FOLDER]

For each size, opens the real window (offscreen unless $DISPLAY is set) on a folder with
one SIZExSIZE image (a bright disc on noise), waits for the model engine, selects the
Click tool and clicks through the canvas's Click tool signal, as the mouse does: a first
click on the disc (the image travels to the engine), then 5 clicks one after the other
(each waits for its mask), then a burst of 5 clicks 10 ms apart (they coalesce: only
the latest set is refined). Without ``--model`` the engine refines with its model-free
fallback (GrabCut); with one, the checkpoint's refiner (its ONNX export when cached).

Prints per phase: click-to-mask latency (from the click to the mask applied to the
document and the overlay) and, while a 5 ms QTimer ticks on the GUI thread, the max and
p99 gap between ticks (5 ms = no stall); and the GUI thread's own time per click (the
request: copying the mask) and per answer (applying it). Figures only, no asserts.
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

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def timed(obj, name: str, spent: list[float]) -> None:
    """Record the seconds each call of ``obj.name`` takes (on the GUI thread)."""
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - t0)

    setattr(obj, name, wrapper)


def ms(values) -> str:
    v = np.asarray(values, float) * 1000
    return f"median {np.median(v):6.1f} ms  max {v.max():6.1f} ms" if v.size else "-"


def one_size(app: QApplication, size: int, model: str | None, tmp: Path) -> None:
    from bench_propose_stall import GapRecorder, run_until

    from segapp.ui.main_window import MainWindow

    root = tmp / f"data{size}"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 120, (size, size, 3), np.uint8)
    c, r = size // 2, size // 5
    cv2.circle(img, (c, c), r, (230, 230, 230), -1)
    cv2.imwrite(str(root / "images" / "disc.png"), img)
    win = MainWindow(settings=QSettings(str(tmp / f"s{size}.ini"), QSettings.Format.IniFormat))
    win.session.confirm = lambda title, text: True
    win.show()
    win.open_path(root, [("bench", Path(model), "")] if model else [])
    if model:
        win.model_panel.select(str(Path(model).resolve()))
    engine, series = win.session.engine, win.clicks
    run_until(app, lambda: (engine.ready or engine.failed) and win.session.doc is not None)
    win.set_tool("click")
    sends, applies = [], []
    placed = win.canvas.clicks.placed
    for signal, name, spent in (
        (placed, "click", sends),
        (engine.refineReady, "_on_result", applies),
    ):
        signal.disconnect(getattr(series, name))
        timed(series, name, spent)
        signal.connect(getattr(series, name))
    rec = GapRecorder()

    def click_and_wait(x: int, y: int, positive: bool) -> float:
        before = len(applies)
        placed.emit(x, y, positive)
        try:
            run_until(app, lambda: len(applies) > before and series._in_flight is None, 120)
        except TimeoutError:
            raise TimeoutError(f"no mask after 120 s; last error: {win.last_error}") from None
        return series.last_latency_s or float("nan")

    print(f"\n{size}x{size}, engine on {engine.device_name}")
    rec.start()
    first = click_and_wait(c, c, True)
    gaps = rec.stop()
    print(
        f"  first click (image sent)  latency {first * 1000:7.1f} ms   gap max {max(gaps):6.1f} ms"
    )
    rec.start()
    d, out = r * 9 // 10, r + 20
    spots = [(c + d, c, True), (c - d, c, True), (c, c + out, False), (c, c - d, True)]
    lat = [click_and_wait(x, y, pos) for x, y, pos in [*spots, (c - out, c, False)]]
    gaps = rec.stop()
    g = np.asarray(gaps)
    print(
        f"  5 clicks, one by one      latency {ms(lat)}   gap max {g.max():6.1f} ms"
        f"  p99 {np.percentile(g, 99):5.1f} ms"
    )
    requests_before = series._seq
    rec.start()
    t0 = time.perf_counter()
    for k in range(5):
        placed.emit(c + 10 * k - 20, c - r // 2, True)
        t1 = time.perf_counter()
        run_until(app, lambda t1=t1: time.perf_counter() - t1 > 0.01)
    run_until(app, lambda: not series._dirty and series._in_flight is None, 120)
    burst = time.perf_counter() - t0
    gaps = rec.stop()
    print(
        f"  burst of 5 clicks / 10 ms  last mask {burst * 1000:7.1f} ms after the first click, "
        f"{series._seq - requests_before} requests   gap max {max(gaps):6.1f} ms"
    )
    print(f"  GUI thread per click {ms(sends)};  per answer {ms(applies)}")
    print(f"  status bar: {series.label.text()}")
    win.session.doc.mark_saved()  # nothing to write on close
    win.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    ap.add_argument("--model", help="a trained checkpoint folder (default: none, GrabCut)")
    args = ap.parse_args()
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            one_size(app, size, args.model, Path(tmp))
    print(f"\ntorch imported by the window's process: {'torch' in sys.modules}")


if __name__ == "__main__":
    main()
