"""Start-up time: from process start to the main window's first show event.

    python benchmarks/bench_startup.py [--runs 3] [PATH]

Runs ``segapp [PATH]`` in a fresh process (offscreen unless $DISPLAY is set) with
``SEGAPP_REPORT_SHOWN=quit``: the window prints ``SHOWN <s>`` when its first show event
fires and closes. Prints the wall time from launching the process to that line (includes
the interpreter start and every import), and the in-process time from importing
``segapp.ui.app``. A folder of generated images is opened when no PATH is given (the project
is opened right after the window shows, so it should not change the figure). No asserts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_folder(root: Path, n: int = 20) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(
            str(root / "images" / f"{i}.png"), rng.integers(0, 255, (256, 256, 3), np.uint8)
        )
    return root


def one_run(path: Path, config_home: Path) -> tuple[float, float, str]:
    env = dict(os.environ, SEGAPP_REPORT_SHOWN="quit", XDG_CONFIG_HOME=str(config_home))
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    code = "import sys; from segapp.cli.main import main; sys.exit(main(sys.argv[1:]))"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    inside, torch_loaded = float("nan"), "?"
    wall = float("nan")
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("SHOWN"):
            wall = time.perf_counter() - t0
            inside = float(line.split()[1])
            torch_loaded = line.split()[2].split("=")[1]
            break
    proc.wait(timeout=60)
    return wall, inside, torch_loaded


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.path) if args.path else make_folder(Path(tmp) / "data")
        walls = []
        for i in range(args.runs):
            wall, inside, torch_loaded = one_run(path, Path(tmp) / f"config{i}")
            walls.append(wall)
            print(
                f"run {i + 1}: window shown {wall:.3f} s after process start "
                f"({inside:.3f} s after importing segapp.ui.app; torch loaded: {torch_loaded})"
            )
        print(f"median {np.median(walls):.3f} s, best {min(walls):.3f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
