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

pytestmark = pytest.mark.torch_backend  # the window scores versions with PyTorch


def _correct(data, stems):
    import cv2
    import numpy as np

    for i in stems:
        cv2.imwrite(str(data / "masks" / f"{i}.png"), np.zeros((16, 16), np.uint8))


def test_validation_subset_only_grows(tmp_path):
    data = make_dataset(tmp_path / "d", n=70, height=16, width=16, masks=50)
    project = Project.open(data)
    train, val = versions.training_selection(project, val_fraction=0.2)
    assert len(val) == 10 and len(train) == 40
    _correct(data, range(50, 70))
    project = Project.open(data)
    train2, val2 = versions.training_selection(project, val_fraction=0.2)
    assert set(val) <= set(val2) and len(val2) == 14
    assert Project.open(data).val_stems == val2  # persisted in segapp.json


def test_too_few_corrected_images_all_train(tmp_path):
    """Below MIN_VAL_IMAGES held out (48 corrected at 20 %), every image trains."""
    from segapp.ml import recipe

    n = recipe.images_for_validation() - 1
    assert n == 47  # 48 * 0.2 rounds to 10
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


def _constant_version(project, name: str, logit: float, trained_on: list[str]) -> Path:
    """A real checkpoint whose network says ``logit`` everywhere: +10 marks every pixel
    foreground, -10 none."""
    import torch

    from segapp.ml.checkpoint import save_checkpoint
    from segapp.ml.registry import create_model, preset_spec

    torch.manual_seed(0)
    spec = preset_spec("unet-small", base_channels=4)
    model = create_model(spec)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(logit)
    return save_checkpoint(project.models_dir / name, model, spec, {"images": trained_on})


def _foreground_share(project, stems) -> float:
    """Foreground IoU of an all-foreground prediction over these images, by hand."""
    masks = [project.read_labels(project.entry(s)) > 0 for s in stems]
    return sum(int(m.sum()) for m in masks) / sum(m.size for m in masks)


@pytest.mark.parametrize(
    ("new_logit", "active_logit", "promoted"),
    [(10.0, -10.0, True), (10.0, 10.0, False), (-10.0, 10.0, False)],
    ids=["better", "equal", "worse"],
)
def test_promotion_when_better_equal_or_worse(
    tmp_path, monkeypatch, new_logit, active_logit, promoted
):
    """Real checkpoints scored for real: an all-foreground net (IoU = the foreground's share
    of the pixels) against an all-background one (IoU 0), or against its own copy. Only a
    strictly better score replaces the active version."""
    data = make_dataset(tmp_path / "d", n=50, height=16, width=16)
    project = Project.open(data)
    train, val = versions.training_selection(project)
    assert len(val) == 10  # enough to compare on
    _constant_version(project, "v001", active_logit, train)
    versions.set_active(project, "v001")
    new = _constant_version(project, "v002", new_logit, train)
    scored = []
    real_score = versions.score

    def score(project, ref, stems, *args, **kw):
        scored.append((Path(ref).name, sorted(stems)))
        return real_score(project, ref, stems, *args, **kw)

    monkeypatch.setattr(versions, "score", score)
    share = _foreground_share(project, val)
    assert 0.05 < share < 0.6  # the blobs: neither IoU is trivially 0 or 1
    iou = {10.0: share, -10.0: 0.0}
    got, new_iou, active_iou = versions.promote_if_better(project, new, val)
    assert new_iou == pytest.approx(iou[new_logit], abs=1e-9)
    assert active_iou == pytest.approx(iou[active_logit], abs=1e-9)
    assert got is promoted
    assert versions.active_version(Project.open(data)).name == ("v002" if promoted else "v001")
    assert sorted(scored) == [("v001", sorted(val)), ("v002", sorted(val))]  # same images
    # the window's way: decide only (in a thread), record nothing
    versions.set_active(project, "v001")
    decided = versions.promote_if_better(project, new, val, activate=False, backend="torch")
    assert decided == (got, new_iou, active_iou)
    assert versions.active_version(Project.open(data)).name == "v001"


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
