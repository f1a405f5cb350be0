"""Brush latency and undo memory of MaskDocument on a small and a large mask.

Prints, for 1024x1024 and 8192x8192 masks, the cost of one mouse move
(``MaskDocument.stroke_to``: paint the capsule, record the diff, notify) as median and
p95 in milliseconds, the cost of closing a drag (``end_stroke``) and of an undo, and the
undo history's bytes after 100 strokes on the 8192x8192 mask. Figures only, no asserts.

    python benchmarks/bench_brush.py [--radius 10] [--strokes 100] [--moves 30]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from segapp.core.document import MaskDocument


def random_drag(rng: np.random.Generator, size: int, moves: int, step: float) -> np.ndarray:
    """A mouse drag: ``moves + 1`` points, each ``step`` px on from the last, inside the image."""
    start = rng.uniform(0.1 * size, 0.9 * size, 2)
    angles = np.cumsum(rng.normal(0, 0.3, moves)) + rng.uniform(0, 2 * np.pi)
    steps = step * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    pts = np.vstack([start, start + np.cumsum(steps, axis=0)])
    return np.clip(pts, 0, size - 1)


def ms(values: list[float]) -> str:
    a = np.asarray(values) * 1e3
    return f"median {np.median(a):6.3f} ms   p95 {np.percentile(a, 95):6.3f} ms"


def bench(size: int, radius: int, strokes: int, moves: int, step: float) -> MaskDocument:
    rng = np.random.default_rng(0)
    doc = MaskDocument(np.full((size, size, 3), 128, np.uint8))  # an RGB image (pages touched)
    doc.brush_radius = radius
    doc.on_change(lambda rect: None)  # a canvas would repaint ``rect`` here
    move_t: list[float] = []
    end_t: list[float] = []
    for i in range(strokes):
        doc.active_class = 1 + i % 3
        pts = random_drag(rng, size, moves, step)
        doc.begin_stroke(*pts[0])
        for x, y in pts[1:]:
            t0 = time.perf_counter()
            doc.stroke_to(x, y)
            move_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        doc.end_stroke()
        end_t.append(time.perf_counter() - t0)
    undo_t = []
    for _ in range(min(10, strokes)):
        t0 = time.perf_counter()
        doc.undo()
        undo_t.append(time.perf_counter() - t0)
    for _ in range(len(undo_t)):
        doc.redo()
    print(f"{size}x{size}, radius {radius}, {strokes} strokes x {moves} moves of {step:g} px")
    print(f"  stroke_to (one mouse move): {ms(move_t)}")
    print(f"  end_stroke (commit a drag): {ms(end_t)}")
    print(f"  undo of a drag:             {ms(undo_t)}")
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radius", type=int, default=10)
    parser.add_argument("--strokes", type=int, default=100)
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--step", type=float, default=12.0, help="pixels per mouse move")
    args = parser.parse_args()
    for size in (1024, 8192):
        doc = bench(size, args.radius, args.strokes, args.moves, args.step)
        if size == 8192:
            h = doc.history
            painted = int(np.count_nonzero(doc.labels))
            print(
                f"  history after {args.strokes} strokes: {h.nbytes / 1e6:.2f} MB in "
                f"{h.undo_count} atoms ({h.nbytes / max(painted, 1):.2f} bytes per painted "
                f"pixel; the mask itself is {doc.labels.nbytes / 1e6:.0f} MB)"
            )
            print(
                f"  process memory: {_rss_mb():.0f} MB resident (image "
                f"{doc.image.nbytes / 1e6:.0f} MB + mask + history + Python/numpy)"
            )


def _rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; peak RSS elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


if __name__ == "__main__":
    main()
