"""``segapp train-standby``: imports ahead, then runs the ``train`` its stdin names, counting
the round's budget from then; the end of its input ends it quietly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import make_dataset

STANDBY = [sys.executable, "-m", "segapp.cli.main", "train-standby"]


def _standby(stdin: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(STANDBY, input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_standby_runs_the_round_its_stdin_names(tmp_path):
    data = make_dataset(tmp_path / "d", n=12, height=48, width=48)
    out = tmp_path / "run"
    args = [str(data), "--out", str(out), "--model", "unet-small", "--size", "32"]
    args += ["--epochs", "2", "--device", "cpu", "--json"]
    done = _standby(json.dumps(args) + "\n")
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(ln)["event"] for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert events[0] == "ready" and events[-1] == "done"
    assert events.count("epoch") == 2
    assert (out / "model.safetensors").exists() and (out / "last" / "config.json").exists()
    plan = next(ln for ln in done.stderr.splitlines() if "plan:" in ln)
    assert "time budget 120 s" in plan  # the recipe's, counted from the arguments


@pytest.mark.slow
def test_standby_without_a_round_ends_quietly_and_refuses_a_bad_line():
    ended = _standby("")  # the window closed before a run
    assert ended.returncode == 0 and ended.stderr.strip() == ""
    assert json.loads(ended.stdout.splitlines()[-1]) == {"event": "ready"}
    bad = _standby("train please\n")
    assert bad.returncode == 2
    assert "segapp: error: train-standby: the first line on stdin must be a JSON list" in bad.stderr
