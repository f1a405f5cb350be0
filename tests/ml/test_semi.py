"""Learning from unlabeled images: pseudo-labels, their loss, the ramp, and a training run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import make_dataset, tiny_train_config

from segapp.core.project import Project
from segapp.ml import recipe, semi
from segapp.ml.train import train


def test_binary_pseudo_labels_keep_only_confident_pixels():
    teacher = torch.tensor([[[[4.0, -4.0], [0.1, -0.1]]]])  # p = .982, .018, .52, .48
    student = torch.zeros_like(teacher)  # p = .5 everywhere: loss log 2 per kept pixel
    loss, kept = semi.pseudo_label_loss(student, teacher, threshold=0.9)
    assert kept == pytest.approx(0.5)
    assert float(loss) == pytest.approx(torch.log(torch.tensor(2.0)).item(), rel=1e-5)
    # a student that agrees with the confident pixels has a lower loss than one that does not
    agree = torch.tensor([[[[5.0, -5.0], [-9.0, 9.0]]]])  # wrong on the unsure pixels only
    disagree = -agree
    assert semi.pseudo_label_loss(agree, teacher)[0] < semi.pseudo_label_loss(disagree, teacher)[0]


def test_multiclass_pseudo_labels_ignore_unsure_pixels():
    teacher = torch.zeros(1, 3, 1, 2)
    teacher[0, 2, 0, 0] = 10.0  # class 2, sure; the other pixel is a three-way tie
    student = torch.zeros(1, 3, 1, 2)
    loss, kept = semi.pseudo_label_loss(student, teacher, threshold=0.9)
    assert kept == pytest.approx(0.5)
    assert float(loss) == pytest.approx(torch.log(torch.tensor(3.0)).item(), rel=1e-5)
    unsure = torch.zeros(1, 3, 1, 2)
    loss, kept = semi.pseudo_label_loss(student, unsure)
    assert kept == 0 and float(loss) == 0


def test_ramp_starts_at_zero_and_reaches_one():
    total = 100
    assert semi.ramp(0, total) == semi.ramp(20, total) == 0
    assert 0 < semi.ramp(30, total) < 1
    assert semi.ramp(40, total) == semi.ramp(99, total) == 1


def test_strong_view_keeps_shape_and_changes_pixels():
    x = torch.randn(3, 3, 32, 32)
    y = semi.strong_view(x)
    assert y.shape == x.shape and not torch.allclose(x, y)
    assert (y == 0).any()  # the cut-out hole


def test_unlabeled_images_are_the_ones_without_a_training_role(tmp_path):
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32, masks=4)
    project = Project.open(data)
    chosen = semi.unlabeled_entries(project, {"0", "1", "2", "3"}, limit=100)
    assert sorted(e.stem for e in chosen) == [str(i) for i in range(4, 10)]
    assert len(semi.unlabeled_entries(project, set(), limit=3)) == 3
    images = semi.load_unlabeled(project, chosen, 3, 16)
    assert len(images) == 6 and images[0].shape == (16, 16, 3)
    x = semi.UnlabeledDataset(images, project_spec())[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32


def test_upright_unlabeled_views_are_never_upside_down_or_turned():
    """Images with an up (segapp.ml.orientation) keep it in their weak views too."""
    import numpy as np

    image = np.zeros((16, 16, 3), np.uint8)
    image[8:] = 255  # dark above, bright below
    views = [semi.UnlabeledDataset([image], project_spec(), upright=True)[0] for _ in range(40)]
    assert all(v[:, :4].mean() < v[:, -4:].mean() for v in views)
    views = [semi.UnlabeledDataset([image], project_spec())[0] for _ in range(40)]
    assert any(v[:, :4].mean() >= v[:, -4:].mean() for v in views)


def project_spec():
    from segapp.ml.registry import preset_spec

    return preset_spec("unet-small")


def test_training_with_unlabeled_images(tmp_path, monkeypatch):
    data = make_dataset(tmp_path / "d", n=12, height=32, width=32, masks=6)
    cfg = tiny_train_config(tmp_path, data, epochs=3, augment="medium", unlabeled=100)
    calls = []
    real = semi.pseudo_label_loss

    def counted(student, teacher, threshold=semi.THRESHOLD):
        calls.append(student.shape[0])
        return real(student, teacher, threshold)

    monkeypatch.setattr(semi, "pseudo_label_loss", counted)
    metrics = list(train(cfg))
    # 3 steps (6 images, batch 4): the first is before the ramp, the next two learn from
    # batches of 2 unlabeled images
    assert calls == [2, 2]
    assert len(metrics) == 3 and all(m.train_loss == m.train_loss for m in metrics)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["unlabeled_images"] == 6 and len(config["images"]) == 6


def test_by_default_only_a_round_that_continues_from_a_trained_version_learns_from_them(
    tmp_path, monkeypatch
):
    """From a fresh network the pseudo-labels would be noise: the first round learns from
    the corrected images alone; the next, continuing from its version, from the rest too
    (when the recipe's default is on; it ships off)."""
    monkeypatch.setattr(recipe, "UNLABELED_IMAGES", 40)
    data = make_dataset(tmp_path / "d", n=12, height=32, width=32, masks=6)
    first = tiny_train_config(tmp_path / "a", data, epochs=2)
    assert first.unlabeled is None  # the recipe decides
    list(train(first))
    assert json.loads((tmp_path / "a" / "run" / "config.json").read_text())["unlabeled_images"] == 0
    again = tiny_train_config(tmp_path / "b", data, epochs=2, model=str(tmp_path / "a" / "run"))
    list(train(again))
    assert json.loads((tmp_path / "b" / "run" / "config.json").read_text())["unlabeled_images"] == 6
    off = tiny_train_config(tmp_path / "c", data, epochs=2, model=str(tmp_path / "a" / "run"))
    list(train(dataclasses.replace(off, unlabeled=0)))  # a setting is obeyed
    assert json.loads((tmp_path / "c" / "run" / "config.json").read_text())["unlabeled_images"] == 0
