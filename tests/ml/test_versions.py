"""Model versions: fixed validation subset, the train command the window runs, promotion."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import make_dataset

from segapp.core.project import Project
from segapp.ml import versions


def test_validation_subset_only_grows(tmp_path):
    data = make_dataset(tmp_path / "d", n=10, height=32, width=32, masks=5)
    project = Project.open(data)
    train, val = versions.training_selection(project, val_fraction=0.2)
    assert len(val) == 1 and len(train) == 4
    import cv2
    import numpy as np

    for i in range(5, 10):
        cv2.imwrite(str(data / "masks" / f"{i}.png"), np.zeros((32, 32), np.uint8))
    project = Project.open(data)
    train2, val2 = versions.training_selection(project, val_fraction=0.2)
    assert set(val) <= set(val2) and len(val2) == 2
    assert Project.open(data).val_stems == val2  # persisted in segapp.json


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
    assert promoted and old is None and 0 <= new_iou <= 1
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
