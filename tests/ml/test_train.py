"""The training generator: metrics per epoch, checkpoints, resume, graceful stop, variants."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from conftest import make_dataset, tiny_train_config

from segapp.ml.checkpoint import load_checkpoint
from segapp.ml.data import DataError
from segapp.ml.train import TrainingError, train


def _config(tmp_path, data, **kw):
    return tiny_train_config(tmp_path, data, **kw)


def test_train_writes_best_checkpoint_and_metrics(tmp_path):
    data = make_dataset(tmp_path / "d", n=40, height=40, width=48)  # 8 validation images
    metrics = list(train(_config(tmp_path, data, epochs=3)))
    assert [m.epoch for m in metrics] == [1, 2, 3]
    assert all(np.isfinite(m.train_loss) and 0 <= m.val_iou <= 1 for m in metrics)
    assert metrics[-1].best_iou == max(m.val_iou for m in metrics)
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["metrics"]["best_epoch"] == metrics[-1].best_epoch
    assert config["train"]["size"] == 32
    assert len(config["images"]) == 32 and len(config["val_images"]) == 8
    assert config["metrics"]["val_trusted"] is True
    assert not set(config["images"]) & set(config["val_images"])
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 4
    assert load_checkpoint(run).spec.preset == "unet-small"


def test_learns_something(tmp_path):
    """A few epochs on easy blobs beat an all-background guess by a wide margin."""
    data = make_dataset(tmp_path / "d", n=40, height=48, width=48)
    metrics = list(train(_config(tmp_path, data, epochs=8, augment="none")))
    assert metrics[-1].best_iou > 0.5


def test_resume_continues(tmp_path):
    data = make_dataset(tmp_path / "d", n=8, height=32, width=32)
    list(train(_config(tmp_path, data, epochs=2)))
    more = list(train(_config(tmp_path, data, epochs=4, resume=True)))
    assert [m.epoch for m in more] == [3, 4]
    rows = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 5


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


def test_mask_of_wrong_size(tmp_path):
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    cv2.imwrite(str(data / "masks" / "2.png"), np.zeros((10, 12), np.uint8))
    with pytest.raises(DataError, match="2.png: mask is 12x10 but its image is 32x32"):
        list(train(_config(tmp_path, data)))


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
    data = make_dataset(tmp_path / "d", n=40, height=32, width=32)
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


def test_time_budget_cuts_the_planned_epochs(tmp_path):
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32)
    metrics = list(train(_config(tmp_path, data, epochs=20, time_budget=1e-3)))
    assert len(metrics) == 1 and metrics[0].epochs == 1  # the plan was cut to what fits
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_step_schedule_from_the_image_count(tmp_path):
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32)
    cfg = _config(tmp_path, data, epochs=None, batch_size=None, steps=28)
    batches = []
    metrics = list(train(cfg, on_batch=lambda i, n, loss: batches.append((i, n))))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    sched = config["schedule"]
    assert sched["batch_size"] == 5 and sched["repeats"] == 7 and sched["steps_per_epoch"] == 14
    assert len(metrics) == 2 and len(batches) == 28  # 28 optimizer steps in all
    # warm-up then cosine decay, over the steps: the last step's rate is near the floor
    assert metrics[-1].lr == pytest.approx(3e-3 * 0.01, rel=0.5)


def test_pretrained_encoder_few_shot_settings(tmp_path):
    """BatchNorm statistics and the high-resolution layers of a pretrained encoder stay as
    ImageNet left them; the rest of the encoder learns 10x slower than the decoder."""
    import torch

    from segapp.ml.checkpoint import load_model

    data = make_dataset(tmp_path / "d", n=4, height=64, width=64)
    cfg = _config(tmp_path, data, model="pretrained-lite0", size=64, epochs=2, lr=1e-2)
    before = load_model("pretrained-lite0", "cpu", classes=1).model.state_dict()
    list(train(cfg))
    after = load_checkpoint(tmp_path / "run").model.state_dict()
    enc = "net.encoder.model."
    stem, deep = enc + "conv_stem.weight", enc + "blocks.5.0.conv_pw.weight"
    assert torch.equal(before[stem], after[stem])  # stride 2: frozen
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
