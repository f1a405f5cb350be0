"""The training generator: metrics per epoch, checkpoints, resume, graceful stop, variants."""

from __future__ import annotations

import copy
import json
import logging
import math
import time

import cv2
import numpy as np
import pytest
import torch
from conftest import make_dataset, make_structure_dataset, tiny_train_config

from segapp.ml import recipe
from segapp.ml.checkpoint import load_checkpoint
from segapp.ml.data import DataError
from segapp.ml.train import TrainingError, train


def _config(tmp_path, data, **kw):
    return tiny_train_config(tmp_path, data, **kw)


def test_train_writes_best_checkpoint_and_metrics(tmp_path):
    data = make_dataset(tmp_path / "d", n=50, height=40, width=48)  # 10 validation images
    metrics = list(train(_config(tmp_path, data, epochs=3)))
    assert [m.epoch for m in metrics] == [1, 2, 3]
    assert all(np.isfinite(m.train_loss) and 0 <= m.val_iou <= 1 for m in metrics)
    assert metrics[-1].best_iou == max(m.val_iou for m in metrics)
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["metrics"]["best_epoch"] == metrics[-1].best_epoch
    assert config["train"]["size"] == 32
    assert len(config["images"]) == 40 and len(config["val_images"]) == 10
    assert config["metrics"]["val_trusted"] is True
    assert not set(config["images"]) & set(config["val_images"])
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 4
    assert load_checkpoint(run).spec.preset == "unet-small"


def test_data_loading_processes(tmp_path):
    """--workers N loads in N processes (a GPU's default) and the run learns as in one."""
    data = make_dataset(tmp_path / "d", n=50, height=48, width=48)
    metrics = list(train(_config(tmp_path, data, epochs=8, augment="none", workers=2)))
    assert metrics[-1].best_iou > 0.5
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["loader_workers"] == 2 and config["train"]["workers"] == 2
    assert _config(tmp_path, data).workers is None  # auto: recipe.loader_workers


def test_a_gpu_round_in_a_small_shared_memory_loads_in_the_training_process(monkeypatch, caplog):
    """A small /dev/shm (a Docker container's is 64 MB) holds fewer loading processes'
    batches: a GPU round there starts fewer, or loads in the training process, and says why."""
    from types import SimpleNamespace

    from segapp.ml import distributed as dist
    from segapp.ml import train_setup
    from segapp.ml.spec import ModelSpec
    from segapp.ml.train import TrainConfig

    gpu = SimpleNamespace(device=torch.device("cuda"), world_size=1, is_main=True)
    monkeypatch.setattr(train_setup.os, "cpu_count", lambda: 16)
    config, spec = TrainConfig(data="d", out="o"), ModelSpec()
    monkeypatch.setattr(dist, "shared_memory_free", lambda: 32 * 2**20)
    with caplog.at_level(logging.WARNING, logger="segapp.ml.train_setup"):
        assert train_setup._loader_workers(config, gpu, spec, 320, 320, 8, False) == 0
    assert "data-loading processes: 0 instead of 4" in caplog.text
    assert "32 MB free" in caplog.text and "--shm-size" in caplog.text
    monkeypatch.setattr(dist, "shared_memory_free", lambda: 64 * 2**20)  # 2 batches of 16 MB
    assert train_setup._loader_workers(config, gpu, spec, 320, 320, 8, False) == 1
    monkeypatch.setattr(dist, "shared_memory_free", lambda: 8 * 2**30)
    assert train_setup._loader_workers(config, gpu, spec, 320, 320, 8, False) == 4


@pytest.mark.slow
def test_training_views_load_in_spawned_processes(tmp_path):
    """Windows and macOS start loading processes by spawning (Linux from Python 3.14 by
    forkserver): the training views must pickle, and a fresh process must make them."""
    from torch.utils.data import DataLoader

    from segapp.core.project import IGNORE_INDEX
    from segapp.ml import distributed as dist
    from segapp.ml.train_setup import prepare

    data = make_dataset(tmp_path / "d", n=12, height=48, width=48)
    run = prepare(_config(tmp_path, data, augment="medium"), dist.setup("cpu"))
    loader = DataLoader(
        run.loader_train.dataset, batch_size=4, num_workers=1, multiprocessing_context="spawn"
    )
    x, y, _ = next(iter(loader))
    assert x.shape == (4, 3, 32, 32) and y.shape == (4, 32, 32)
    assert torch.isfinite(x).all() and set(y.unique().tolist()) <= {0, 1, IGNORE_INDEX}


def test_learns_something(tmp_path):
    """A few epochs on easy blobs beat an all-background guess by a wide margin."""
    data = make_dataset(tmp_path / "d", n=50, height=48, width=48)
    metrics = list(train(_config(tmp_path, data, epochs=8, augment="none")))
    assert metrics[-1].best_iou > 0.5


def _narrow_nets(monkeypatch) -> None:
    """unet-small at 4 channels wide: the runs below train it several times."""
    import segapp.ml.checkpoint as ck

    real = ck.load_model
    monkeypatch.setattr(
        "segapp.ml.train_setup.load_model",
        lambda ref, *a, **kw: real(ref, *a, **({"base_channels": 4} | kw)),
    )


def _snapshot(run) -> dict:
    """Copies of what a run carries from one epoch to the next."""
    return {
        "weights": {k: v.detach().clone() for k, v in run.model.state_dict().items()},
        "optimizer": copy.deepcopy(run.optimizer.state_dict()),
        "scheduler": copy.deepcopy(run.scheduler.state_dict()),
    }


def _same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _plain(value):
    return json.loads(json.dumps(value))


def _figures(metrics) -> list[dict]:
    """Per-epoch figures without the timings and the stop flag."""
    timing = ("seconds", "eta_seconds", "images_per_second", "stopped")
    return [{k: v for k, v in m.to_dict().items() if k not in timing} for m in metrics]


def test_resume_with_nothing_to_resume_says_so_and_starts(tmp_path, monkeypatch, caplog):
    """--resume into a folder without last/ (a first torchrun attempt, or a wrong --out)
    trains from the start, and says so."""
    import logging

    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    _narrow_nets(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="segapp.ml.train"):
        epochs = list(train(_config(tmp_path / "fresh", data, epochs=1, resume=True)))
    assert [m.epoch for m in epochs] == [1]
    assert any("nothing to resume" in r.getMessage() for r in caplog.records)


def _written(run) -> tuple[int, int, int]:
    """(epoch of last/, epoch of the chosen checkpoint, rows of metrics.csv) on disk."""
    last = json.loads((run / "last" / "config.json").read_text())["state"]["epoch"]
    chosen = json.loads((run / "config.json").read_text())["metrics"]["epoch"]
    rows = len((run / "metrics.csv").read_text().strip().splitlines()) - 1
    return last, chosen, rows


@pytest.mark.parametrize("every, written", [(1e9, [1, 1, 1, 4]), (0.0, [1, 2, 3, 4])])
def test_checkpoint_writes_are_paced(tmp_path, monkeypatch, every, written):
    """The checkpoint and last/ are written after the first epoch, then once SAVE_EVERY_S
    have passed, and after the last; metrics.csv after every epoch."""
    from segapp.ml import train_io

    monkeypatch.setattr(train_io, "SAVE_EVERY_S", every)
    data = make_dataset(tmp_path / "d", n=12, height=32, width=32)  # the newest epoch is kept
    seen = [(m.epoch, _written(tmp_path / "run")) for m in train(_config(tmp_path, data, epochs=4))]
    assert seen == [(e, (w, w, e)) for e, w in zip([1, 2, 3, 4], written, strict=True)]


def test_a_failing_run_writes_the_checkpoint_waiting_in_memory(tmp_path, monkeypatch):
    """Epoch 2's weights wait in memory (no write due); epoch 3 fails: the checkpoint is
    written with epoch 2's weights, not the failing epoch's, and last/ stays at epoch 1."""
    from segapp.ml import train as train_module
    from segapp.ml import train_io
    from segapp.ml.checkpoint import weights_on_cpu
    from segapp.ml.weights_file import read_state_dict

    monkeypatch.setattr(train_io, "SAVE_EVERY_S", 1e9)
    validate, at_epoch_2 = train_module._validate, {}

    def failing_validate(run, ctx):
        if "weights" in at_epoch_2:  # epoch 3: its steps are taken, then this fails
            raise RuntimeError("the GPU fell off the bus")
        if "epoch1" in at_epoch_2:
            at_epoch_2["weights"] = weights_on_cpu(run.model, copy=True)
        at_epoch_2["epoch1"] = True
        return validate(run, ctx)

    monkeypatch.setattr(train_module, "_validate", failing_validate)
    data = make_dataset(tmp_path / "d", n=12, height=32, width=32)
    done = []
    with pytest.raises(RuntimeError, match="fell off the bus"):
        for m in train(_config(tmp_path, data, epochs=4)):
            done.append(m.epoch)
    assert done == [1, 2]
    assert _written(tmp_path / "run") == (1, 2, 2)
    written = read_state_dict(tmp_path / "run" / "model.safetensors")
    _same_tensors(written, at_epoch_2["weights"])


def test_resume_restores_weights_optimizer_and_schedule(tmp_path, monkeypatch):
    """Stopped after 2 of 4 epochs and resumed, a run ends where the uninterrupted run ends
    (shuffled batches, augmentation and copy-paste included): the weights, AdamW's moments
    and step counts and the LR schedule come back, not just the epoch number."""
    import segapp.ml.train as train_module

    data = make_dataset(tmp_path / "d", n=8, height=32, width=32)
    started = []  # (run, its state once _start has resumed it, (first epoch, history))
    real_start = train_module._start

    def start(config, run, out, ctx, started_at):
        progress = real_start(config, run, out, ctx, started_at)
        started.append((run, _snapshot(run), (progress.start_epoch, list(progress.history))))
        return progress

    monkeypatch.setattr(train_module, "_start", start)
    _narrow_nets(monkeypatch)
    kw = dict(epochs=4, batch_size=4, augment="light", copy_paste=0.5)  # 2 steps an epoch
    whole = list(train(_config(tmp_path / "whole", data, **kw)))
    calls = []

    def stop_at_the_end_of_epoch_2():
        calls.append(1)
        return len(calls) == 4

    first = list(train(_config(tmp_path, data, **kw), should_stop=stop_at_the_end_of_epoch_2))
    assert [m.epoch for m in first] == [1, 2] and first[-1].stopped
    at_stop = _snapshot(started[1][0])
    rest = list(train(_config(tmp_path, data, resume=True, **kw)))
    assert [m.epoch for m in rest] == [3, 4]
    assert [m.extra["steps_done"] for m in first + rest] == [2, 4, 6, 8]  # resumed at 4 of 8

    resumed, (start_epoch, history) = started[2][1], started[2][2]
    assert start_epoch == 3 and history == [m.to_dict() for m in first]
    _same_tensors(resumed["weights"], at_stop["weights"])  # BatchNorm statistics too
    opt, opt_stop = resumed["optimizer"], at_stop["optimizer"]
    assert _plain(opt["param_groups"]) == _plain(opt_stop["param_groups"])  # betas: a list
    assert opt["state"].keys() == opt_stop["state"].keys()
    assert len(opt["state"]) == len(list(started[2][0].model.parameters()))
    for idx, values in opt["state"].items():
        assert set(values) == {"step", "exp_avg", "exp_avg_sq"}
        assert float(values["step"]) == 4  # 2 epochs of 2 steps
        _same_tensors(values, opt_stop["state"][idx])
    sched = resumed["scheduler"]
    assert sched == at_stop["scheduler"]
    assert sched["last_epoch"] == 4 and sched["lr_lambdas"][0]["total"] == 8
    lr = 3e-3 * recipe.lr_factor(4, 8, sched["lr_lambdas"][0]["warmup"])
    assert [g["lr"] for g in opt["param_groups"]] == pytest.approx([lr], rel=1e-12)
    assert sched["_last_lr"] == pytest.approx([lr], rel=1e-12)  # not the warm-up's start

    # the same end as the uninterrupted run: figures, weights and optimizer state
    assert _figures(first + rest) == _figures(whole)
    end_whole, end_resumed = _snapshot(started[0][0]), _snapshot(started[2][0])
    _same_tensors(end_resumed["weights"], end_whole["weights"])
    for idx, values in end_resumed["optimizer"]["state"].items():
        _same_tensors(values, end_whole["optimizer"]["state"][idx])
    assert end_resumed["scheduler"] == end_whole["scheduler"]
    moved = max(
        float((end_whole["weights"][k].float() - at_stop["weights"][k].float()).abs().max())
        for k in at_stop["weights"]
    )
    assert moved > 1e-3  # epochs 3 and 4 changed the weights: the equality above means much
    rows = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows] == ["epoch", "1", "2", "3", "4"]
    config = json.loads((tmp_path / "run" / "last" / "config.json").read_text())
    assert config["state"]["epoch"] == 4 and config["state"]["scheduler"] == sched | {
        "last_epoch": 8,
        "_step_count": sched["_step_count"] + 4,
        "_last_lr": config["state"]["scheduler"]["_last_lr"],
    }


def test_the_seed_repeats_a_run_and_another_seed_does_not(tmp_path, monkeypatch):
    """Augmentation (albumentations), copy-paste and batch order all follow ``seed``."""
    _narrow_nets(monkeypatch)
    data = make_dataset(tmp_path / "d", n=8, height=32, width=32)
    kw = dict(epochs=1, batch_size=4, augment="medium", copy_paste=0.5, val_fraction=0.0)
    losses = [
        list(train(_config(tmp_path / name, data, seed=seed, **kw)))[0].train_loss
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    ]
    weights = [load_checkpoint(tmp_path / name / "run").model.state_dict() for name in "abc"]
    assert losses[0] == losses[1] != losses[2]
    _same_tensors(weights[0], weights[1])
    assert any(not torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_a_network_that_does_not_fit_says_what_to_do(tmp_path, monkeypatch):
    """Out of memory before the first step (a GPU that other programs fill): one clear
    error, the memory left and what helps, not a traceback."""
    import segapp.ml.train as train_module

    def full(*a, **kw):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")

    monkeypatch.setattr(train_module, "prepare", full)
    data = make_dataset(tmp_path / "d", n=4)
    with pytest.raises(TrainingError, match=r"out of memory on cpu while setting up"):
        list(train(_config(tmp_path, data)))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d: (300 * 2**20, 80 * 2**30))
    said = train_module._setup_out_of_memory(torch.device("cuda"))
    assert "300 MiB free of 81920: other programs hold it" in said
    assert "--device cpu, the Train panel's Device" in said


def test_should_stop_keeps_a_checkpoint(tmp_path):
    data = make_dataset(tmp_path / "d", n=12, height=32, width=32)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) >= 2

    metrics = list(train(_config(tmp_path, data, epochs=50, batch_size=2), should_stop=stop))
    assert len(metrics) == 1 and metrics[0].stopped
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_valid_convolutions_with_crops_and_weighted_loss(tmp_path):
    data = make_dataset(tmp_path / "d", n=6, height=80, width=80)
    cfg = _config(
        tmp_path,
        data,
        model="unet-paper",
        size=64,
        resize_mode="crop",
        loss="weighted-ce",
        epochs=1,
        batch_size=2,
    )
    import segapp.ml.checkpoint as ck

    real = ck.load_model

    def small(ref, *a, **kw):  # the paper net at 4 channels wide, depth 2: fast
        return real(ref, *a, depth=2, base_channels=4, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("segapp.ml.train_setup.load_model", small)
        metrics = list(train(cfg))
    assert np.isfinite(metrics[0].train_loss)
    assert load_checkpoint(tmp_path / "run").spec.padding == "valid"


def test_multiclass_project(tmp_path):
    data = make_dataset(tmp_path / "d", n=6, height=32, width=32)
    for i, f in enumerate(sorted((data / "masks").iterdir())):
        m = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(f), np.where(m > 0, 1 + i % 2, 0).astype(np.uint8))
    (data / "segapp.json").write_text(
        json.dumps(
            {
                "classes": [
                    {"name": "bg", "color": [0, 0, 0], "value": 0},
                    {"name": "a", "color": [255, 0, 0], "value": 1},
                    {"name": "b", "color": [0, 255, 0], "value": 2},
                ]
            }
        )
    )
    list(train(_config(tmp_path, data, epochs=1)))
    assert load_checkpoint(tmp_path / "run").spec.classes == 3


def test_images_without_masks_are_skipped(tmp_path):
    data = make_dataset(tmp_path / "d", n=8, height=32, width=32, masks=5)
    list(train(_config(tmp_path, data, epochs=1)))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["skipped_without_mask"] == 3
    assert len(config["images"]) + len(config["val_images"]) == 5


def test_no_masks_at_all(tmp_path):
    data = make_dataset(tmp_path / "d", n=3, masks=0)
    with pytest.raises(DataError, match="none has a mask"):
        list(train(_config(tmp_path, data)))


def test_mask_of_wrong_size_is_left_out_and_said(tmp_path, caplog):
    """One broken pair does not cost the round: it trains on the others and says why that
    one was left out (the log, config.json); with no usable pair at all it stops."""
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    cv2.imwrite(str(data / "masks" / "2.png"), np.zeros((10, 12), np.uint8))
    with caplog.at_level(logging.WARNING, logger="segapp.ml.train_setup"):
        list(train(_config(tmp_path, data, epochs=1)))
    reason = "2.png: mask is 12x10 but its image is 32x32"
    assert any(
        "left out of this round" in r.getMessage() and reason in r.getMessage()
        for r in caplog.records
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "2" not in config["images"] + config["val_images"] and len(config["images"]) == 3
    assert len(config["left_out"]) == 1 and reason in config["left_out"][0]
    for i in (0, 1, 3):
        cv2.imwrite(str(data / "masks" / f"{i}.png"), np.zeros((10, 12), np.uint8))
    with pytest.raises(DataError, match="no usable training image: .*mask is 12x10"):
        list(train(_config(tmp_path, data, out=str(tmp_path / "run2"))))


def test_mask_at_other_resolution_same_aspect_is_scaled(tmp_path):
    """Published data sets (human-segmentation) store some masks at another resolution."""
    data = make_dataset(tmp_path / "d", n=4, height=32, width=48)
    m = cv2.imread(str(data / "masks" / "1.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(
        str(data / "masks" / "1.png"), cv2.resize(m, (24, 16), interpolation=cv2.INTER_NEAREST)
    )
    list(train(_config(tmp_path, data, epochs=1)))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["rescaled_masks"] == 1


def test_diverging_loss_is_reported(tmp_path):
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    with pytest.raises(TrainingError, match="lower --lr"):
        list(train(_config(tmp_path, data, lr=1e12, epochs=3)))


def test_early_stopping(tmp_path):
    data = make_dataset(tmp_path / "d", n=50, height=32, width=32)
    metrics = list(train(_config(tmp_path, data, epochs=30, patience=1, lr=1e-9)))
    assert len(metrics) < 30
    assert metrics[-1].epoch - metrics[-1].best_epoch >= 1


def test_tensorboard_logs_or_clear_message(tmp_path):
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    cfg = _config(tmp_path, data, epochs=1, tensorboard=str(tmp_path / "tb"))
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(TrainingError, match="pip install 'segapp\\[tensorboard\\]'"):
            list(train(cfg))
        return
    list(train(cfg))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_without_validation_keeps_latest(tmp_path):
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    metrics = list(train(_config(tmp_path, data, epochs=2, val_fraction=0.0)))
    assert metrics[-1].best_epoch == 2


def test_tiny_validation_split_trains_on_everything_and_keeps_the_last_epoch(tmp_path):
    """10 images at 20 % would validate on 2: too few to choose on, so all 10 train."""
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32)
    metrics = list(train(_config(tmp_path, data, epochs=3)))
    assert [m.best_epoch for m in metrics] == [1, 2, 3]
    assert all(math.isnan(m.val_iou) and m.extra["val_trusted"] is False for m in metrics)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert len(config["images"]) == 10 and config["val_images"] == []
    assert config["metrics"]["epoch"] == 3 and config["metrics"]["val_trusted"] is False


def test_a_small_fixed_validation_subset_is_scored_but_not_used_to_choose(tmp_path):
    data = make_dataset(tmp_path / "d", n=12, height=32, width=32)
    val = ["0", "1", "2"]
    metrics = list(train(_config(tmp_path, data, epochs=4, val_images=val)))
    assert all(0 <= m.val_iou <= 1 for m in metrics)  # figures, shown as indicative
    assert [m.best_epoch for m in metrics] == [1, 2, 3, 4]  # the newest is kept
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert sorted(config["val_images"]) == val and config["metrics"]["epoch"] == 4


def test_listed_stems_that_are_not_images_with_masks_are_named(tmp_path, caplog):
    data = make_dataset(tmp_path / "d", n=12, height=32, width=32)
    val = ["0", "1", "nope", "Nope2"]  # typos, or masks removed since the list was made
    with caplog.at_level(logging.WARNING, logger="segapp.ml.train_setup"):
        list(train(_config(tmp_path, data, epochs=1, val_images=val, val_fraction=0.0)))
    said = [r.getMessage() for r in caplog.records if "--val-images" in r.getMessage()]
    assert said == [
        "2 of the 4 stems --val-images lists are not images with masks here, left out: Nope2, nope"
    ]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert sorted(config["val_images"]) == ["0", "1"]  # --val-fraction 0: exactly those


def test_time_budget_cuts_the_planned_epochs(tmp_path):
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32)
    metrics = list(train(_config(tmp_path, data, epochs=20, time_budget=1e-3)))
    assert len(metrics) == 1 and metrics[0].epochs == 1  # the plan was cut to what fits
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_time_budget_counts_from_the_rounds_start_not_the_first_epoch(tmp_path):
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32)
    cfg = _config(tmp_path, data, epochs=20, time_budget=600.0)
    # the round began 598 s ago (the process loading torch and the images, say): 2 s are left,
    # under FINISH_SECONDS, so the first epoch is the last
    started = time.perf_counter() - 598.0
    metrics = list(train(cfg, started_at=started))
    assert len(metrics) == 1 and metrics[0].epochs == 1
    # the same budget counted from the call itself runs the whole plan
    cfg = _config(tmp_path, data, epochs=3, time_budget=600.0)
    assert [m.epochs for m in train(cfg)] == [3, 3, 3]


def test_time_budget_cuts_an_epoch_short_and_still_ends_on_a_small_rate(tmp_path, monkeypatch):
    """Planned again after every step: a round whose steps take longer than its budget
    allows stops in the middle of an epoch, its learning rate decayed over the steps it took
    (walk-through 9: an epoch of 165 s ran on against a budget of 120 s)."""
    from segapp.ml import round_budget

    steps = []  # a slow machine: every step takes 1 s more on the budget's clock
    real_step = round_budget.RoundBudget.step_done
    monkeypatch.setattr(round_budget, "_now", lambda: time.perf_counter() + len(steps))
    monkeypatch.setattr(
        round_budget.RoundBudget, "step_done", lambda b: (steps.append(1), real_step(b))
    )
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32)
    cfg = _config(
        tmp_path, data, epochs=20, repeats=7, batch_size=5, val_fraction=0, time_budget=600.0
    )
    batches = []
    # 590 s gone before the first step: 7 s of the budget are left after its finish
    started = time.perf_counter() - 590.0
    metrics = list(
        train(cfg, on_batch=lambda i, n, loss, *_: batches.append(i), started_at=started)
    )
    assert len(metrics) == 1 and metrics[0].epochs == 1
    assert 2 <= len(batches) <= 7 < 14  # of the epoch's 14 steps
    assert metrics[0].lr == pytest.approx(3e-3 * recipe.FINAL_LR_FRACTION, rel=0.01)
    last = json.loads((tmp_path / "run" / "last" / "config.json").read_text())["state"]
    assert last["planned_epochs"] == 1  # ran its plan as cut: no "cut off" mark in Versions
    assert last["scheduler"]["lr_lambdas"] == [{"total": len(batches), "warmup": len(batches) // 2}]


def test_step_schedule_from_the_image_count(tmp_path):
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32)
    cfg = _config(tmp_path, data, epochs=None, batch_size=None, steps=56)
    batches = []
    metrics = list(train(cfg, on_batch=lambda i, n, loss, *steps: batches.append((i, n, *steps))))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    sched = config["schedule"]
    # on the CPU, batches of 2; 7 repeats make epochs of 35 steps, 56 steps two of 28
    assert sched["batch_size"] == 2 and sched["repeats"] == 7 and sched["steps_per_epoch"] == 28
    assert len(metrics) == 2 and len(batches) == 56  # 56 optimizer steps in all
    assert batches[30] == (3, 28, 31, 56)  # epoch 2's third step: the run's 31st of 56
    # warm-up then cosine decay, over the steps: the last step's rate is near the floor
    assert metrics[-1].lr == pytest.approx(3e-3 * 0.01, rel=0.5)


def test_pretrained_encoder_few_shot_settings(tmp_path):
    """BatchNorm statistics and the high-resolution layers of a pretrained encoder stay as
    ImageNet left them; the rest of the encoder learns 10x slower than the decoder."""
    import torch

    from segapp.ml.checkpoint import load_model

    data = make_dataset(tmp_path / "d", n=4, height=64, width=64)
    cfg = _config(tmp_path, data, model="pretrained-lite0", size=64, epochs=2, lr=1e-2, clicks=0.5)
    before = load_model("pretrained-lite0", "cpu", classes=1).model.state_dict()
    list(train(cfg))
    after = load_checkpoint(tmp_path / "run").model.state_dict()
    enc = "net.encoder.model."
    stem, deep = enc + "conv_stem.weight", enc + "blocks.5.0.conv_pw.weight"
    # stride 2: frozen; the twin that reads the click channels (zero at first) learns
    assert torch.equal(before[stem], after[enc + "conv_stem.image.weight"])
    assert after[enc + "conv_stem.clicks.weight"].abs().max() > 0
    assert torch.equal(before[enc + "bn1.running_mean"], after[enc + "bn1.running_mean"])
    bn_deep = enc + "blocks.5.0.bn1.running_var"
    assert torch.equal(before[bn_deep], after[bn_deep])  # statistics kept everywhere
    assert not torch.equal(before[deep], after[deep])  # deeper layers learn
    head = "net.segmentation_head.0.weight"
    enc_step = (after[deep] - before[deep]).abs().max()
    head_step = (after[head] - before[head]).abs().max()
    assert enc_step < head_step
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["frozen_parameters"] > 0


def test_auto_resize_mode_is_resolved_from_the_images_and_recorded(tmp_path):
    """Large images train on crops at native scale; the checkpoint records the choice, which
    is what tells prediction to tile instead of resizing."""
    big = make_dataset(tmp_path / "big", n=4, height=120, width=130)  # > 3 x 32 px
    small = make_dataset(tmp_path / "small", n=4, height=40, width=48)
    for data, mode in ((big, "crop"), (small, "resize")):
        out = tmp_path / f"run-{mode}"
        list(train(_config(tmp_path, data, epochs=1, out=str(out), resize_mode="auto")))
        config = json.loads((out / "config.json").read_text())
        assert config["train"]["resize_mode"] == mode


def test_auto_resize_mode_resizes_large_images_whose_objects_would_survive_it(tmp_path):
    """Large images crop only when their masks' structures would vanish in a resize: an
    object over half of each image stays whole at the training size, thin lines do not."""
    for name, thick in (("objects", True), ("lines", False)):
        root = make_structure_dataset(tmp_path / name, thick)
        out = tmp_path / f"run-{name}"
        list(train(_config(tmp_path, root, epochs=1, out=str(out), resize_mode="auto")))
        config = json.loads((out / "config.json").read_text())
        assert config["train"]["resize_mode"] == ("resize" if thick else "crop"), name


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_autocast_on_a_cpu_that_computes_it(tmp_path, monkeypatch, caplog, native):
    """Where the CPU computes bfloat16 in hardware, training autocasts to it (weights and
    checkpoint stay float32); elsewhere, or with --no-amp, it trains in float32."""
    import logging

    from safetensors.torch import load_file

    from segapp.ml.checkpoint import WEIGHTS_FILE

    monkeypatch.setattr("segapp.ml.device.cpu_has_native_bf16", lambda: native)
    data = make_dataset(tmp_path / "d", n=12, height=32, width=32)
    with caplog.at_level(logging.INFO, logger="segapp.ml.train"):
        metrics = list(train(_config(tmp_path, data, epochs=2)))
    assert ("torch.bfloat16 autocast" in caplog.text) is native
    assert all(np.isfinite(m.train_loss) for m in metrics)
    weights = load_file(tmp_path / "run" / WEIGHTS_FILE)
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float32}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="segapp.ml.train"):
        list(train(_config(tmp_path, data, epochs=1, amp=False, out=str(tmp_path / "r2"))))
    assert "autocast" not in caplog.text
