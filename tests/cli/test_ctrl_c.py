"""Ctrl+C in a terminal reaches the whole process group, data-loading processes included:
the run stops once, after its batch, and keeps its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import make_dataset


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT: POSIX")
def test_ctrl_c_with_loading_processes_stops_once_and_keeps_the_checkpoint(tmp_path):
    data = make_dataset(tmp_path / "d", n=12, height=48, width=48)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "segapp.cli.main", "train", str(data), "--out", str(out)]
    cmd += ["--model", "unet-small", "--size", "32", "--epochs", "500", "--workers", "2"]
    cmd += ["--time-budget", "0", "--device", "cpu"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        for line in proc.stdout:  # the first epoch's line: the loading processes run
            if line.startswith("epoch "):
                break
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl+C: every process
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr[-2000:]
    assert stderr.count("stopping after this batch") == 1  # the run's, not each process's
    assert "Traceback" not in stderr
    assert (out / "model.safetensors").exists()
    assert "epoch 500/500" not in stdout
