"""Never lose work: a writer saving masks and segapp.json is killed (SIGKILL) at random moments.

A long-lived helper process imports segapp once and forks one writer per round (a fresh
interpreter per round would cost more than the rounds themselves). Each writer takes the
project's lock (the last writer died holding it: stale-lock recovery), removes what the
last kill left, then saves proposals and corrections of known versions and rewrites
segapp.json, without end, until it is killed. After every kill: the project opens, every
mask is a valid PNG equal to one of the versions written, segapp.json and every complete
journal line parse, no image that had a mask has lost it, and no proposal reads as corrected.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset
from fault_corpus import mask_version as version

from segapp.core.classes import multiclass
from segapp.core.imageio import is_temp_file, read_mask
from segapp.core.project import Project

KILLS = 50
SIZE = 48  # fault_corpus.mask_version's size

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forks writers (POSIX)")


_HELPER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from fault_corpus import mask_version as version
    from segapp.core.lock import ProjectLock
    from segapp.core.project import Project

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed writers are reaped at once
    print("ready", flush=True)
    for line in sys.stdin:
        seed = int(line)
        if os.fork():
            continue  # the writer says its pid itself (two writers to one pipe: no order)
        rng = np.random.default_rng(seed)
        lock = ProjectLock(sys.argv[1])
        lock.acquire()  # the writer killed before still "holds" it: stale
        project = Project.open(sys.argv[1])
        project.remove_temp_files()
        os.write(1, f"writing {os.getpid()}\\n".encode())
        for i in range(10**9):
            entry = project.entries[int(rng.integers(len(project.entries)))]
            k = int(rng.integers(8))
            status = "proposed" if k % 2 == 0 else "corrected"
            project.write_labels(entry, version(k), status, f"v{k}")
            if i % 3 == 0:
                project.extra["saves"] = project.extra.get("saves", 0) + 1
                project.save()
    """
)


def _check(root: Path, had_mask: set[str]) -> tuple[set[str], int]:
    """Everything the rule promises after a kill; returns (stems with a mask, temp files)."""
    project = Project.open(root)
    meta = json.loads((root / "segapp.json").read_text())
    assert meta["classes"] and isinstance(meta.get("saves", 0), int)
    lines = project.journal_path.read_text().splitlines() if project.journal_path.exists() else []
    for line in lines[:-1]:  # the last line may be cut short by the kill (then skipped)
        json.loads(line)
    versions = [version(k) for k in range(8)]
    with_mask = set()
    for e in project.entries:
        if not e.mask_path.exists():
            continue
        with_mask.add(e.stem)
        labels = project.labels_from_mask(read_mask(e.mask_path))
        k = next(k for k, v in enumerate(versions) if np.array_equal(labels, v))
        if e.status == "corrected":
            assert k % 2 == 1, f"{e.stem}: a proposal (version {k}) reads as corrected"
    assert had_mask <= with_mask, f"masks lost: {had_mask - with_mask}"
    temps = [p for d in (root, root / "masks") for p in d.iterdir() if is_temp_file(p.name)]
    return with_mask, len(temps)


@pytest.mark.slow
def test_killed_writers_never_lose_or_corrupt_a_mask(tmp_path):
    root = make_dataset(tmp_path / "p", n=6, height=SIZE, width=SIZE, masks=0)
    project = Project.open(root)
    project.classes = multiclass(["background", "a", "b"])
    project.save()
    helper = subprocess.Popen(
        [sys.executable, "-c", _HELPER, str(root), str(Path(__file__).parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert helper.stdout.readline().strip() == "ready"
        rng = np.random.default_rng(0)
        had_mask: set[str] = set()
        temps_seen = 0
        for seed in range(KILLS):
            helper.stdin.write(f"{seed}\n")
            helper.stdin.flush()
            word, pid = helper.stdout.readline().split()  # the lock taken, the project open
            assert word == "writing"
            pid = int(pid)
            time.sleep(float(rng.uniform(0.0, 0.15)))
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)
            had_mask, temps = _check(root, had_mask)
            temps_seen += temps
        assert had_mask  # the writers did write
        # opening as the writer does (with the lock) removes what the last kill left
        from segapp.core.lock import ProjectLock

        with ProjectLock(root):
            Project.open(root).remove_temp_files()
        assert _check(root, had_mask)[1] == 0
        print(f"{KILLS} kills survived, {temps_seen} temp files left by kills and removed")
    finally:
        helper.kill()
        helper.wait()


def _wait_gone(pid: int) -> None:
    """Until the killed writer has exited (its files closed); no time limit of our own."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.002)
