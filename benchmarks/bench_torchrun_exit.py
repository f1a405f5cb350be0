"""How often a two-rank torchrun training on this CPU ends with a rank killed by a signal.

    python benchmarks/bench_torchrun_exit.py                # 40 runs, both cores kept busy
    python benchmarks/bench_torchrun_exit.py --runs 20 --no-load

Each run is the command ``tests/ml/test_distributed.py`` runs: ``torchrun --nproc-per-node
2 -m segapp.cli.main train`` of unet-small on 10 synthetic 32 px pairs for 2 epochs, over
gloo, each into a new folder. ``--load`` (default) keeps one busy-looping process per core
beside it, as a CI machine running the rest of the suite would. Printed: each failed run's
exit code and the line that names the signal, then the failures out of the runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--load", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import make_dataset

    burners = []
    if args.load:
        spin = "while True: pass"
        burners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count())]
    failed = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = make_dataset(Path(tmp) / "d", n=10, height=32, width=32)
            env = dict(os.environ, OMP_NUM_THREADS="1")
            for i in range(1, args.runs + 1):
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
                cmd += ["--nproc-per-node", "2", "-m", "segapp.cli.main", "train", str(data)]
                cmd += ["--model", "unet-small", "--out", f"{tmp}/run{i}", "--epochs", "2"]
                cmd += ["--size", "32", "--batch-size", "2", "--device", "cpu", "--json"]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
                if proc.returncode != 0:
                    failed += 1
                    said = [
                        x for x in proc.stderr.splitlines() if "exitcode" in x or "terminate" in x
                    ]
                    print(f"run {i}: exit {proc.returncode}: {' | '.join(said[:3])}", flush=True)
    finally:
        for b in burners:
            b.kill()
    load = "both cores kept busy" if args.load else "no other load"
    print(f"{failed} of {args.runs} runs failed ({load})")


if __name__ == "__main__":
    main()
