"""What a round waits for before it learns: a `segapp train` process started at Train's
click (cold) against the one the window starts ahead (`segapp train-standby`, handed the
round's arguments at the click).

    python benchmarks/bench_round_start.py                       # 40 images, the defaults
    python benchmarks/bench_round_start.py --k 10 --device cuda  # on a GPU
    python benchmarks/bench_round_start.py --time-budget 20      # quicker, same start-up

On ids 1..K of ../shared/datasets/human-segmentation with their masks, each way in turn:
from the click to the first step (the log's "plan:" line), to the end of the run, the steps the run took within
its time budget (the default: the recipe's, counted from the process's start or from the
arguments), and the log's "gone in loading". One JSON line per run, then a table.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench_active_loop import start_standby, wait_ready
from bench_fewshot import DATA, build_project

from segapp.ml.versions import TRAIN_COMMAND


def run_round(mode: str, args: list[str]) -> dict:
    """One round, ``mode`` "cold" or "standby"; times from the click."""
    if mode == "standby":
        proc = start_standby()
        wait_ready(proc)  # imports done, as while a person corrects
        click = time.perf_counter()
        proc.stdin.write(json.dumps(args) + "\n")
        proc.stdin.flush()
    else:
        click = time.perf_counter()
        proc = subprocess.Popen(
            TRAIN_COMMAND + args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    log: list[tuple[float, str]] = []  # (seconds from the click, stderr line)

    def read_log() -> None:
        for line in proc.stderr:
            log.append((time.perf_counter() - click, line))

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    steps = 0
    for line in proc.stdout:
        msg = json.loads(line) if line.startswith("{") else {}
        if msg.get("event") == "batch":
            steps = max(steps, int(msg.get("step", 0)))
    proc.stdin.close()
    proc.wait()
    reader.join()
    stderr = "".join(line for _t, line in log)
    first = next((t for t, line in log if " plan: " in line), None)  # the first step begins
    if proc.returncode != 0:
        raise SystemExit(f"{mode}: segapp train failed:\n{stderr[-2000:]}")
    loading = re.search(r"\(([\d.]+) s gone in loading\)", stderr)
    return {
        "mode": mode,
        "first_step_s": round(first, 1) if first is not None else None,
        "round_s": round(time.perf_counter() - click, 1),
        "steps": steps,
        "loading_s": float(loading.group(1)) if loading else None,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--k", type=int, default=40, help="train on ids 1..K")
    p.add_argument("--device", default="auto")
    p.add_argument("--time-budget", default=None, help="seconds (default: the recipe's)")
    p.add_argument("--repeat", type=int, default=1, help="rounds of each way, alternating")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        build_project(Path(a.data), root, a.k, 0, 10**9)
        for i in range(a.repeat):
            for mode in ("cold", "standby"):
                args = [str(root), "--out", str(root / f"{mode}{i}"), "--device", a.device]
                args += ["--json"] + (["--time-budget", a.time_budget] if a.time_budget else [])
                row = run_round(mode, args)
                print(json.dumps(row), flush=True)
                rows.append(row)
    print("\n| process | click to the first step | loading (log) | steps | round |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['first_step_s']} s | {r['loading_s']} s | {r['steps']} "
            f"| {r['round_s']} s |"
        )


if __name__ == "__main__":
    main()
