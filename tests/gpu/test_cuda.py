"""The real CUDA paths: training, proposals and running out of GPU memory (``pytest -m gpu``).

Skipped without a CUDA device; the CPU suite covers the same code with the GPU simulated
(tests/ml/test_infer.py: the out-of-memory fallback). Out of memory is real here: the
caching allocator is capped (``torch.cuda.set_per_process_memory_fraction``) so that the
next allocation fails as on a full card.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_blob_pair, make_dataset, tiny_train_config

from segapp.ml.checkpoint import load_checkpoint, load_model
from segapp.ml.infer import Predictor
from segapp.ml.registry import DEFAULT_PRESET
from segapp.ml.train import TrainingError, train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "models" / "demo-model"
MiB = 2**20


@pytest.fixture
def memory_cap():
    """``cap(extra)``: the allocator may hold only what it holds now plus ``extra`` bytes;
    lifted after the test."""
    total = torch.cuda.get_device_properties(0).total_memory

    def cap(extra: int) -> None:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction((torch.cuda.memory_reserved() + extra) / total)

    yield cap
    torch.cuda.set_per_process_memory_fraction(1.0)
    gc.collect()
    torch.cuda.empty_cache()


def test_training_on_cuda_learns_under_autocast(tmp_path, caplog):
    """The engine's round on the GPU: bfloat16 autocast (float16 on older cards), and it
    learns."""
    data = make_dataset(tmp_path / "d", n=50, height=48, width=48)
    config = tiny_train_config(tmp_path, data, device="cuda", epochs=8, augment="none")
    with caplog.at_level(logging.INFO, logger="segapp.ml.train"):
        metrics = list(train(config))
    assert metrics[-1].best_iou > 0.5
    plan = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("plan:"))
    expected = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    assert f"{expected} autocast" in plan
    loaded = load_checkpoint(tmp_path / "run")  # weights saved float32, loadable on a CPU
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())


def test_training_setup_on_cuda(tmp_path):
    """The network is on the GPU in channels-last layout, and the batches go there too."""
    from segapp.ml import distributed as dist
    from segapp.ml.train_setup import prepare

    data = make_dataset(tmp_path / "d", n=12, height=64, width=64)
    run = prepare(tiny_train_config(tmp_path, data, device="cuda"), dist.setup("cuda"))
    conv = next(m for m in run.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_cuda
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert run.amp_dtype in (torch.bfloat16, torch.float16)
    assert run.loader_train.pin_memory


def test_cli_round_on_cuda_with_the_default_preset(tmp_path):
    """`segapp train` as the window starts it, on the GPU, from the default pretrained preset:
    the data loads in worker processes there, and the version it writes proposes on a CPU."""
    data = make_dataset(tmp_path / "d", n=12, height=96, width=96)
    out = tmp_path / "v001"
    cmd = [sys.executable, "-m", "segapp.cli.main", "train", str(data), "--out", str(out)]
    cmd += ["--model", DEFAULT_PRESET, "--device", "cuda", "--epochs", "2", "--size", "64"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    if (os.cpu_count() or 1) > 1:
        assert config["loader_workers"] >= 1
    image, _ = make_blob_pair(np.random.default_rng(1), 96, 96)
    probs = Predictor(load_model(out, "cpu"), "cpu").predict(image)
    assert probs.shape == (1, 96, 96) and np.isfinite(probs).all()


@pytest.mark.torch_backend
def test_proposals_on_cuda_match_the_cpu():
    image, _ = make_blob_pair(np.random.default_rng(0), 300, 420)
    cpu = Predictor(load_model(DEMO_MODEL, "cpu"), "cpu").predict(image)
    gpu_pred = Predictor(load_model(DEMO_MODEL, "cuda"), "cuda")
    assert gpu_pred.device.type == "cuda" and gpu_pred.channels_last
    gpu = gpu_pred.predict(image)
    assert gpu.shape == cpu.shape
    assert np.abs(gpu - cpu).max() < 1e-2
    assert gpu_pred.fallback_message is None


@pytest.mark.torch_backend
def test_proposals_out_of_gpu_memory_fall_back_to_the_cpu(memory_cap, caplog):
    """A real CUDA out-of-memory error: smaller tiles first, then the CPU, same proposal."""
    image, _ = make_blob_pair(np.random.default_rng(0), 1024, 1024)
    expected = Predictor(load_model(DEMO_MODEL, "cpu"), "cpu", tile=512).predict(image)
    pred = Predictor(load_model(DEMO_MODEL, "cuda"), "cuda", tile=512)
    memory_cap(0)  # no new allocation fits: every tile size fails, then the CPU runs
    with caplog.at_level(logging.WARNING, logger="segapp.ml.infer"):
        probs = pred.predict(image)
    assert "retrying with 256 px tiles" in caplog.text
    assert "retrying with 128 px tiles" in caplog.text
    assert pred.device.type == "cpu"
    assert "ran out of memory" in pred.fallback_message
    assert np.abs(probs - expected).max() < 1e-2


def test_training_out_of_gpu_memory_says_what_to_do(tmp_path, memory_cap):
    """A round too large for the memory left: one clear error naming the batch size to try,
    no traceback of CUDA internals."""
    data = make_dataset(tmp_path / "d", n=16, height=128, width=128)
    config = tiny_train_config(
        tmp_path, data, model=DEFAULT_PRESET, device="cuda", size=1024, batch_size=8, epochs=1
    )
    memory_cap(400 * MiB)  # the network, its gradients and AdamW's state fit; 1024 px do not
    with pytest.raises(TrainingError, match=r"out of memory on cuda.*--batch-size 4"):
        list(train(config))


def test_a_gpu_that_other_programs_fill_says_so(tmp_path, memory_cap):
    """No memory left for the network itself (added in stop 45 after the GPU runs: not yet
    run on a GPU)."""
    data = make_dataset(tmp_path / "d", n=8, height=64, width=64)
    config = tiny_train_config(tmp_path, data, model=DEFAULT_PRESET, device="cuda")
    memory_cap(MiB)  # the network's 30 MB do not fit
    with pytest.raises(TrainingError, match=r"while setting up the network \(\d+ MiB free"):
        list(train(config))


def test_the_windows_jobs_run_on_cuda_in_their_own_process(tmp_path):
    """The GPU check finds the card, and Review's reading proposes on it, each in a job
    process (segapp.ml.jobs): the same figures as on the CPU."""
    from segapp.core.project import Project
    from segapp.ml.job_process import run_job

    assert run_job("accelerated", {"device": "auto"})[0] is True
    project = Project.open(make_dataset(tmp_path / "d", n=3, height=64, width=64))
    stems = [e.stem for e in project.corrected()]
    args = {"project": str(project.root), "model": str(DEMO_MODEL), "stems": stems}
    on_gpu, _ = run_job("agreement", args | {"device": "cuda"})
    on_cpu, _ = run_job("agreement", args | {"device": "cpu"})
    gpu, cpu = ({r["stem"]: r["iou"] for r in rows} for rows in (on_gpu, on_cpu))
    assert set(gpu) == set(stems) and gpu == pytest.approx(cpu, abs=0.02)
