"""Canvas latency: a brush mouse move, a full repaint and a wheel zoom on a large image.

Offscreen (``QT_QPA_PLATFORM=offscreen``), a 1280x900 canvas shows a 1024x1024 and an
8192x8192 RGB image. For each, at "fit" and at 1:1 zoom, it sends ~100 mouse moves of a
brush drag through the real event path (``QMouseEvent`` to the viewport -> the canvas ->
``doc.stroke_to`` -> the overlay's dirty-rectangle update -> the repaint of that region,
flushed with ``processEvents``) and prints median and p95 milliseconds per move, with the
number of paint events seen. Then the cost of a whole-viewport repaint (what a pan or a
zoom costs) and of a wheel zoom step, and the one-off ``set_document`` cost. Figures only.

    python benchmarks/bench_canvas.py [--radius 10] [--moves 100] [--sizes 1024 8192]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from segapp.core.document import MaskDocument  # noqa: E402
from segapp.ui.canvas.canvas import Canvas  # noqa: E402


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def make_image(size: int) -> np.ndarray:
    """A cheap RGB test image with structure (gradients and a checker)."""
    ramp = (np.arange(size, dtype=np.uint32) * 255 // max(size - 1, 1)).astype(np.uint8)
    img = np.empty((size, size, 3), np.uint8)
    img[..., 0] = ramp[None, :]
    img[..., 1] = ramp[:, None]
    checker = ((np.arange(size)[:, None] // 64 + np.arange(size)[None, :] // 64) % 2) * 80
    img[..., 2] = checker.astype(np.uint8)
    return img


def ms(values: list[float]) -> str:
    a = np.asarray(values) * 1e3
    return f"median {np.median(a):6.2f} ms   p95 {np.percentile(a, 95):6.2f} ms"


def flush(app: QApplication) -> None:
    app.processEvents()
    app.processEvents()


def mouse(kind: QEvent.Type, canvas: Canvas, pos: QPoint, buttons) -> QMouseEvent:
    p = QPointF(pos)
    return QMouseEvent(
        kind,
        p,
        canvas.viewport().mapToGlobal(p),
        Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )


def drag_path(canvas: Canvas, moves: int) -> list[QPoint]:
    """A wavy horizontal drag across the middle of the visible part of the image."""
    vp = canvas.viewport().rect()
    cx, cy = vp.center().x(), vp.center().y()
    span = vp.width() * 0.6
    return [
        QPoint(
            int(cx - span / 2 + span * i / moves),
            int(cy + 80 * np.sin(i / moves * 4 * np.pi)),
        )
        for i in range(moves + 1)
    ]


def bench_stroke(app: QApplication, canvas: Canvas, moves: int, counter: PaintCounter) -> str:
    vp = canvas.viewport()
    path = drag_path(canvas, moves)
    left = Qt.MouseButton.LeftButton
    QApplication.sendEvent(vp, mouse(QEvent.Type.MouseButtonPress, canvas, path[0], left))
    flush(app)
    counter.count = 0
    times = []
    for pos in path[1:]:
        t0 = time.perf_counter()
        QApplication.sendEvent(vp, mouse(QEvent.Type.MouseMove, canvas, pos, left))
        flush(app)
        times.append(time.perf_counter() - t0)
    paints = counter.count
    QApplication.sendEvent(
        vp, mouse(QEvent.Type.MouseButtonRelease, canvas, path[-1], Qt.MouseButton.NoButton)
    )
    flush(app)
    return f"{ms(times)}   ({paints} paints / {len(times)} moves)"


def bench_repaint(app: QApplication, canvas: Canvas, n: int = 20) -> str:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        canvas.viewport().repaint()
        times.append(time.perf_counter() - t0)
    return ms(times)


def bench_wheel(app: QApplication, canvas: Canvas, n: int = 20) -> str:
    vp = canvas.viewport()
    pos = QPointF(vp.rect().center() + QPoint(100, 50))
    times = []
    for i in range(n):
        delta = 120 if i % 2 == 0 else -120
        ev = QWheelEvent(
            pos,
            vp.mapToGlobal(pos),
            QPoint(),
            QPoint(0, delta),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        t0 = time.perf_counter()
        QApplication.sendEvent(vp, ev)
        flush(app)
        times.append(time.perf_counter() - t0)
    return ms(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 8192])
    args = ap.parse_args()

    app = QApplication.instance() or QApplication([])
    canvas = Canvas()
    canvas.resize(1280, 900)
    canvas.set_colors([(0, 0, 0), (255, 0, 0), (0, 200, 0)])
    canvas.show()
    flush(app)
    counter = PaintCounter()
    canvas.viewport().installEventFilter(counter)
    print(f"canvas 1280x900 offscreen, brush radius {args.radius} image px, {args.moves} moves")
    for size in args.sizes:
        image = make_image(size)
        doc = MaskDocument(image)
        doc.brush_radius = args.radius
        t0 = time.perf_counter()
        canvas.set_document(doc)
        flush(app)
        print(
            f"\n{size}x{size}: set_document + first paint {(time.perf_counter() - t0) * 1e3:.0f} ms"
        )
        for label, zoom in (("fit", None), ("1:1", 1.0), ("1:1 outline", 1.0)):
            if zoom is None:
                canvas.fit()
            else:
                canvas.zoom_1to1()
            canvas.set_outline_mode("outline" in label)
            flush(app)
            print(
                f"  brush move, zoom {label:11s} ({canvas.zoom():.3f}): {bench_stroke(app, canvas, args.moves, counter)}"
            )
        canvas.set_outline_mode(False)
        for label, zoom in (("fit", None), ("1:1", 1.0), ("4x", 4.0)):
            if zoom is None:
                canvas.fit()
            else:
                canvas.zoom_1to1()
                canvas.zoom_by(zoom)
            flush(app)
            print(
                f"  full viewport repaint, zoom {label:3s}:          {bench_repaint(app, canvas)}"
            )
        canvas.fit()
        flush(app)
        print(f"  wheel zoom step (event + repaint), from fit:  {bench_wheel(app, canvas)}")
        canvas.set_document(None)
        del doc, image


if __name__ == "__main__":
    main()
