"""Start-up time: process start -> window shown (-> model engine ready -> first mask).

    python benchmarks/bench_startup.py [--runs 3] [PATH]
    python benchmarks/bench_startup.py --propose [--model pretrained-lite1] [--no-export]

Runs ``segapp [PATH]`` in a fresh process (offscreen unless $DISPLAY is set) with
``SEGAPP_REPORT_SHOWN``: the window prints ``SHOWN <s>`` when its first show event fires.
Prints the wall time from launching the process to that line (includes the interpreter
start and every import), and the in-process time from importing ``segapp.ui.app``. A folder
of generated images is opened when no PATH is given (the project is opened right after the
window shows, so it should not change the figure).

``--propose``: the folder gets a checkpoint of MODEL in ``models/v001`` (built, not trained:
the timing is the same) and, unless ``--no-export``, its ONNX export in a fresh cache (made
beforehand in another process); the window then proposes as soon as the model engine is
ready, and the lines say when the engine was ready, when the first mask arrived, and whether
the window's process had imported torch. No asserts.
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

_CHECKPOINT = """
import sys
from segapp.ml.checkpoint import save_checkpoint
from segapp.ml.registry import create_model, preset_spec
folder, preset, export = sys.argv[1:4]
spec = preset_spec(preset)
save_checkpoint(folder, create_model(spec, pretrained=False).eval(), spec, {"train": {}})
if export == "1":
    from segapp.ml.onnx_backend import export_checkpoint
    export_checkpoint(folder)
"""


def make_checkpoint(folder: Path, preset: str, export: bool, env: dict[str, str]) -> None:
    """A checkpoint of ``preset`` in ``folder`` (and its ONNX export cached), made in another
    process so that this one does not import torch."""
    cmd = [sys.executable, "-c", _CHECKPOINT, str(folder), preset, "1" if export else "0"]
    subprocess.run(cmd, check=True, env=os.environ | env)


def make_folder(root: Path, n: int = 20) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(
            str(root / "images" / f"{i}.png"), rng.integers(0, 255, (256, 256, 3), np.uint8)
        )
    return root


def one_run(path: Path, config_home: Path, env: dict[str, str], mode: str) -> dict[str, str]:
    """{tag: the rest of its line} for SHOWN, ENGINE, MASK (wall: seconds since launch)."""
    env = dict(os.environ, **env, SEGAPP_REPORT_SHOWN=mode, XDG_CONFIG_HOME=str(config_home))
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
    lines: dict[str, str] = {}
    assert proc.stdout is not None
    last = "MASK" if mode == "propose" else "SHOWN"
    for line in proc.stdout:
        tag, _, rest = line.strip().partition(" ")
        if tag in ("SHOWN", "ENGINE", "MASK"):
            lines.setdefault(tag, rest)
            lines.setdefault(f"{tag}_wall", f"{time.perf_counter() - t0:.3f}")
            if tag == last:
                break
    proc.wait(timeout=120)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--propose", action="store_true", help="and time the first proposal")
    ap.add_argument("--model", default="pretrained-lite1", help="preset of the checkpoint")
    ap.add_argument("--no-export", action="store_true", help="no cached ONNX export")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.path) if args.path else make_folder(Path(tmp) / "data")
        env: dict[str, str] = {}
        if args.propose:
            env["SEGAPP_CACHE"] = str(Path(tmp) / "cache")
            make_checkpoint(path / "models" / "v001", args.model, not args.no_export, env)
            print(f"{args.model} checkpoint, ONNX export cached: {not args.no_export}")
        walls = []
        for i in range(args.runs):
            got = one_run(
                path, Path(tmp) / f"config{i}", env, "propose" if args.propose else "quit"
            )
            shown = float(got.get("SHOWN_wall", "nan"))
            inside, torch_loaded = (got.get("SHOWN", "nan ?=?").split() + ["?=?"])[:2]
            walls.append(shown)
            line = (
                f"run {i + 1}: window shown {shown:.3f} s after process start "
                f"({float(inside):.3f} s after importing segapp.ui.app; "
                f"torch loaded: {torch_loaded.split('=')[1]})"
            )
            if args.propose:
                engine, mask = (
                    float(got.get("ENGINE_wall", "nan")),
                    float(got.get("MASK_wall", "nan")),
                )
                line += (
                    f"; engine ready +{engine - shown:.3f} s after the window "
                    f"({got.get('ENGINE', '?').split(' ', 1)[-1]}); first mask {mask:.3f} s "
                    f"after launch (torch in the window: {got.get('MASK', '?=?').split('=')[-1]})"
                )
            print(line, flush=True)
        print(f"median {np.median(walls):.3f} s, best {min(walls):.3f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
