"""What the window's model work costs in a process of its own, and what it saves the window.

    python benchmarks/bench_jobs.py                 # 32 validation images, the default model
    python benchmarks/bench_jobs.py --images 10 --repeats 3

The version check (a new version scored against the active one on the validation images,
``segapp.ml.jobs.check``) runs once in a job process, as the window runs it now, and once
in this process, as the window ran it before. Printed: each one's wall time and how much
this process's resident memory grew (VmRSS, /proc). The job runs first, so torch is not
loaded here when it runs. The two versions are the default preset's network
(pretrained-lite1, 320 px) saved untrained, which costs what a trained one costs; the
images are ids 1-N of human-segmentation in a temporary project (links, no copies).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "human-segmentation"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_project(root: Path, n: int) -> list[str]:
    for kind in ("images", "masks"):
        (root / kind).mkdir(parents=True)
        for src in sorted((DATA / kind).iterdir(), key=lambda p: int(p.stem))[:n]:
            os.symlink(src, root / kind / src.name)
    return [str(i) for i in range(1, n + 1)]


def save_version(folder: Path, images: list[str]) -> Path:
    """The default preset's network, untrained, as a version that trained on ``images``."""
    import json

    from segapp.ml.checkpoint import save_checkpoint
    from segapp.ml.registry import DEFAULT_PRESET, create_model, preset_spec

    spec = preset_spec(DEFAULT_PRESET, classes=1)
    save_checkpoint(folder, create_model(spec), spec)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"images": images}))
    return folder


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=32, help="validation images")
    p.add_argument("--repeats", type=int, default=2, help="checks in each way")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        stems = make_project(root, args.images)
        # made in a child process: this one has not loaded torch when the job runs
        import subprocess
        import sys

        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); from bench_jobs import save_version; "
            "from pathlib import Path; save_version(Path(sys.argv[2]), []); "
            "save_version(Path(sys.argv[3]), [])"
        )
        models = root / "models"
        old, new = models / "v001", models / "v002"
        here = str(Path(__file__).parent)
        subprocess.run([sys.executable, "-c", code, here, str(old), str(new)], check=True)
        from segapp.core.project import Project
        from segapp.ml import versions
        from segapp.ml.job_process import run_job

        project = Project.open(root)
        versions.set_active(project, "v001")
        job = {"project": str(root), "new": str(new), "val": stems, "device": "cpu"}
        print(
            f"version check of {len(stems)} images ({root.name}: human-segmentation 1-{len(stems)})"
        )
        print("| where | wall s | this process's memory grew, MB | torch here |")
        print("|---|---|---|---|")
        for where in ["job process"] * args.repeats + ["this process"] * args.repeats:
            before, t0 = rss_mb(), time.perf_counter()
            if where == "job process":
                got, _ = run_job("check", job)
            else:
                got = versions.promote_if_better(
                    project, new, stems, "cpu", activate=False, backend="torch"
                )
            wall = time.perf_counter() - t0
            torch_here = "torch" in sys.modules
            print(f"| {where} | {wall:.1f} | {rss_mb() - before:+.0f} | {torch_here} |")
        print(f"resident memory at the end: {rss_mb():.0f} MB (last check: {list(got)})")


if __name__ == "__main__":
    main()
