"""The window's model work runs in a process of its own (segapp.ml.jobs, job_process): real
jobs through a real engine process, a crash that costs the job only, a kill that ends it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset
from qt_helpers import tiny_checkpoint

from segapp.core.project import Project
from segapp.ml import engine_client
from segapp.ml.job_process import JobCancelled, JobError, JobProcess, run_job

ROOT = Path(__file__).resolve().parents[2]


def test_uncertainty_is_read_in_a_job_process_with_its_progress(tmp_path):
    project = Project.open(make_dataset(tmp_path / "d", n=4, masks=0, height=24, width=32))
    model = tiny_checkpoint(tmp_path / "m", foreground=0.0, export=False)  # p = 0.5: unsure
    stems = [e.stem for e in project.entries]
    notes = []
    args = {"project": str(project.root), "model": str(model), "stems": stems}
    found, _ = run_job("uncertainty", args | {"max_seconds": 60}, (), notes.append)
    assert set(found) == set(stems)
    assert all(0.9 < w <= 1.0 for w in found.values())  # a head at logit 0 decides nothing
    assert [n["done"] for n in notes] == [1, 2, 3, 4]
    assert {n["event"] for n in notes} == {"progress"} and notes[-1]["total"] == 4
    # out of time before the first image: nothing read (the window weighs the mean)
    found, _ = run_job("uncertainty", args | {"max_seconds": -1})
    assert found == {}


def test_labels_and_several_jobs_in_one_process(tmp_path):
    model = tiny_checkpoint(tmp_path / "m", foreground=10.0, export=False)
    process = JobProcess("the comparison")
    try:
        image = np.zeros((20, 30, 3), np.uint8)
        _, (labels,) = process.run("labels", {"model": str(model), "device": "cpu"}, [image])
        pid = process._client.proc.pid
        _, (again,) = process.run("labels", {"model": str(model), "device": "cpu"}, [image])
        assert labels.shape == (20, 30) and labels.min() == 1  # logit +10: all foreground
        assert np.array_equal(labels, again) and process._client.proc.pid == pid
        found, _ = process.run("accelerated", {"device": "cpu"})
        assert found is False
    finally:
        process.close()


def test_a_failing_job_says_why(tmp_path):
    with pytest.raises(JobError, match="unknown job 'nothing'"):
        run_job("nothing", {})
    with pytest.raises(JobError, match="is no trained model folder"):  # not a checkpoint
        run_job("labels", {"model": str(tmp_path), "device": "cpu"}, [np.zeros((4, 4), np.uint8)])


def _serve_instead(monkeypatch, body: str) -> None:
    """Job processes whose "accelerated" job runs ``body`` instead."""
    code = (
        f"import os, time, segapp.ml.jobs as j; j.JOBS['accelerated'] = lambda *a: {body}; "
        "import segapp.ml.engine_server as s; s.main()"
    )
    monkeypatch.setattr(engine_client, "server_command", lambda: [sys.executable, "-c", code])


def test_a_crash_costs_the_job_not_the_caller(monkeypatch):
    _serve_instead(monkeypatch, "os.abort()")
    with pytest.raises(JobError) as e:
        run_job("accelerated", {}, what="the GPU check")
    assert not isinstance(e.value, JobCancelled)
    assert str(e.value) == "the GPU check stopped unexpectedly (signal 6); nothing was changed"
    monkeypatch.undo()
    assert run_job("accelerated", {"device": "cpu"})[0] is False  # the next one starts afresh


def test_kill_ends_a_job_in_flight(monkeypatch):
    _serve_instead(monkeypatch, "time.sleep(600)")
    process = JobProcess("the reading")
    got = []

    def wait() -> None:
        try:
            process.run("accelerated", {})
        except JobError as e:
            got.append(e)

    thread = threading.Thread(target=wait)
    thread.start()
    deadline = time.monotonic() + 30
    while process._client is None or not process._client.alive:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()
    thread.join(10)
    assert not thread.is_alive() and isinstance(got[0], JobCancelled)
    with pytest.raises(JobCancelled):  # killed for good: no new process
        process.run("accelerated", {})
    assert process._client is None


def test_the_callers_process_never_loads_torch(tmp_path):
    """The window's side of a job imports neither torch nor smp (the job's process does)."""
    model = tiny_checkpoint(tmp_path / "m", export=False)
    code = (
        "import sys, numpy as np; from segapp.ml.job_process import run_job; "
        f"run_job('labels', {{'model': {str(model)!r}, 'device': 'cpu'}}, [np.zeros((8, 8), np.uint8)]); "
        "print('torch' in sys.modules, 'segmentation_models_pytorch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["False", "False"]


def test_kill_between_jobs_ends_and_reaps_the_process(tmp_path):
    process = JobProcess("the comparison")
    assert process.run("accelerated", {"device": "cpu"})[0] is False
    proc = process._client.proc
    process.kill()  # the dialog closed: no job in flight
    assert proc.returncode is not None and process._client is None  # waited for: no zombie


def test_a_process_the_system_killed_is_said_so(monkeypatch):
    """SIGKILL is what Linux's out-of-memory killer sends: the message says what may help."""
    _serve_instead(monkeypatch, "os.kill(os.getpid(), 9)")
    with pytest.raises(JobError) as e:
        run_job("accelerated", {}, what="the comparison")
    assert str(e.value) == (
        "the comparison stopped unexpectedly (killed, signal 9: the system may have run out "
        "of memory); nothing was changed"
    )
    assert engine_client.ending(None) == "it stopped answering"
    assert engine_client.ending(3) == "exit code 3" and engine_client.ending(-11) == "signal 11"


def test_with_a_cached_export_the_readings_load_no_torch(tmp_path):
    """Review's and Suggest's readings propose through the engine: a version's cached ONNX
    export serves them (as after its first proposal), so the job process needs no torch."""
    root = make_dataset(tmp_path / "d", n=3, masks=2, height=24, width=32)
    model = tiny_checkpoint(tmp_path / "m", foreground=10.0)  # exported, as once proposed
    args = {"project": str(root), "model": str(model), "device": "cpu"}
    code = (
        "import json, sys; from segapp.ml import jobs; a = json.loads(sys.argv[1]); "
        "rows, _ = jobs.agreement(a | {'stems': ['0', '1']}, [], print); "
        "found, _ = jobs.uncertainty(a | {'stems': ['0', '1', '2']}, [], print); "
        "print(json.dumps([[r['stem'] for r in rows], sorted(found), 'torch' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    stems, scored, torch_loaded = json.loads(out.stdout.splitlines()[-1])
    assert sorted(stems) == ["0", "1"] and scored == ["0", "1", "2"] and torch_loaded is False
