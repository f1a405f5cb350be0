"""Model versions: fixed validation subset, the train command the window runs, promotion."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_dataset

from segapp.core.project import Project
from segapp.ml import versions


def _correct(data, stems):
    import cv2
    import numpy as np

    for i in stems:
        cv2.imwrite(str(data / "masks" / f"{i}.png"), np.zeros((16, 16), np.uint8))


def test_validation_subset_only_grows(tmp_path):
    data = make_dataset(tmp_path / "d", n=60, height=16, width=16, masks=40)
    project = Project.open(data)
    train, val = versions.training_selection(project, val_fraction=0.2)
    assert len(val) == 8 and len(train) == 32
    _correct(data, range(40, 60))
    project = Project.open(data)
    train2, val2 = versions.training_selection(project, val_fraction=0.2)
    assert set(val) <= set(val2) and len(val2) == 12
    assert Project.open(data).val_stems == val2  # persisted in segapp.json


def test_too_few_corrected_images_all_train(tmp_path):
    """Below MIN_VAL_IMAGES held out (40 corrected at 20 %), every image trains."""
    from segapp.ml import recipe

    n = recipe.images_for_validation() - 1
    assert n == 37  # 38 * 0.2 rounds to 8
    data = make_dataset(tmp_path / "d", n=n, height=16, width=16)
    project = Project.open(data)
    train, val = versions.training_selection(project)
    assert val == [] and len(train) == n
    assert versions.plan_split(project) == (train, val)
    assert Project.open(data).val_stems == []


def test_train_process_and_promotion(tmp_path):
    data = make_dataset(tmp_path / "d", n=8, height=32, width=32)
    project = Project.open(data)
    train, val = versions.training_selection(project, val_fraction=0.25)
    out = versions.next_version_dir(project)
    assert out.name == "v001"
    cmd = versions.train_command(
        project, out, "unet-small", train, val, epochs=1, size=32, device="cpu"
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    done = json.loads(proc.stdout.strip().splitlines()[-1])
    assert done["event"] == "done"
    config = json.loads((out / "config.json").read_text())
    assert sorted(config["val_images"]) == sorted(val) and sorted(config["images"]) == sorted(train)
    promoted, new_iou, old = versions.promote_if_better(project, out, val)
    assert val == [] and promoted and old is None and math.isnan(new_iou)  # 8 images: all train
    assert versions.active_version(Project.open(data)).name == "v001"
    assert [v.name for v in versions.list_versions(project)] == ["v001"]
    assert versions.next_version_dir(project).name == "v002"


def test_proposal_iou_counts_same_class_pixels():
    import numpy as np

    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    assert versions.proposal_iou(a, b) == 1.0  # both empty: nothing to correct
    a[:2] = 1
    b[:1] = 1
    assert versions.proposal_iou(a, b) == 0.5
    b[:1] = 2  # right place, wrong class
    assert versions.proposal_iou(a, b) == 0.0


def test_versions_list_without_torch():
    code = "import sys, segapp.ml.versions; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _fake_version(project, name: str, trained_on: list[str]) -> None:
    d = project.models_dir / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"images": trained_on, "model": {}}))
    (d / "model.safetensors").write_bytes(b"")


@pytest.mark.parametrize(
    ("new", "active", "promoted"), [(0.8, 0.7, True), (0.7, 0.7, False), (0.6, 0.7, False)]
)
def test_promotion_when_better_equal_or_worse(tmp_path, monkeypatch, new, active, promoted):
    data = make_dataset(tmp_path / "d", n=50, height=16, width=16)
    project = Project.open(data)
    train, val = versions.training_selection(project)
    _fake_version(project, "v001", train)
    versions.set_active(project, "v001")
    _fake_version(project, "v002", train)
    scored = []

    def score(project, ref, stems, device="cpu", threshold=0.5, backend=None):
        scored.append((Path(ref).name, sorted(stems)))
        return new if Path(ref).name == "v002" else active

    monkeypatch.setattr(versions, "score", score)
    result = versions.promote_if_better(project, project.models_dir / "v002", val)
    assert result == (promoted, new, active)
    assert versions.active_version(project).name == ("v002" if promoted else "v001")
    assert {tuple(s) for _, s in scored} == {tuple(sorted(val))}  # both on the same images


def test_promotion_ignores_validation_images_the_active_version_trained_on(tmp_path, monkeypatch):
    """An older round trained on images that are validation images now: they would favour it.
    With fewer than MIN_VAL_IMAGES left, the new version (more corrections) becomes active."""
    data = make_dataset(tmp_path / "d", n=50, height=16, width=16)
    project = Project.open(data)
    train, val = versions.training_selection(project)
    assert len(val) == 10
    _fake_version(project, "v001", train + val[:3])  # 7 fair images left: too few
    versions.set_active(project, "v001")
    _fake_version(project, "v002", train)
    monkeypatch.setattr(versions, "score", lambda p, ref, stems, *a, **k: 0.5)
    promoted, new_iou, active_iou = versions.promote_if_better(
        project, project.models_dir / "v002", val
    )
    assert promoted and active_iou is None and new_iou == 0.5
    assert versions.active_version(project).name == "v002"
