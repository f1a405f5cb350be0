"""Projects are plain folders: open existing images/+masks/, bare image folders, metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_dataset

from segapp.core.classes import multiclass
from segapp.core.imageio import MaskValueError, read_mask
from segapp.core.project import Project, ProjectError


def test_open_images_masks_folder_writes_nothing(tmp_path):
    data = make_dataset(tmp_path / "d", n=5, masks=3)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    project = Project.open(data)
    assert [e.stem for e in project.entries] == ["0", "1", "2", "3", "4"]
    assert [e.status for e in project.entries] == ["corrected"] * 3 + ["unlabeled"] * 2
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before


def test_masks_found_without_a_status_are_named_as_adopted(tmp_path):
    """A mask from elsewhere counts as corrected, and the project says which ones it took
    (the window tells the person); masks with segapp's own status are not among them."""
    import shutil

    data = make_dataset(tmp_path / "d", n=5, masks=3)
    project = Project.open(data)
    assert project.adopted == ["0", "1", "2"]
    project.save()  # statuses recorded
    assert Project.open(data).adopted == []
    shutil.copy(data / "masks" / "0.png", data / "masks" / "4.png")  # copied in by hand
    again = Project.open(data)
    assert again.adopted == ["4"] and again.entry("4").status == "corrected"


def test_bare_folder_of_images(tmp_path):
    data = make_dataset(tmp_path / "d", n=3, masks=0)
    images = data / "images"
    project = Project.open(images)
    assert project.images_dir == images and project.masks_dir == images / "masks"
    entry = project.entries[0]
    labels = np.zeros((64, 64), np.uint8)
    labels[10:20, 10:20] = 1
    project.write_labels(entry, labels, "proposed", proposed_by="unet-small")
    assert (images / "segapp.journal").exists()  # the status; segapp.json on save
    assert read_mask(images / "masks" / "0.png")[15, 15] == 255  # binary stored as 0/255
    again = Project.open(images)
    e = again.entry("0")
    assert e.status == "proposed" and e.proposed_by == "unet-small"
    assert len(again.entries) == 3  # masks/ is not mistaken for images


def test_natural_sort_and_split_is_stable(tmp_path):
    data = make_dataset(tmp_path / "d", n=12, height=16, width=16)
    project = Project.open(data)
    assert [e.stem for e in project.entries][:3] == ["0", "1", "2"]
    assert [e.stem for e in project.entries][-1] == "11"
    train, val = project.split(0.25, seed=0)
    assert len(val) == 3 and len(train) == 9
    again = Project.open(data).split(0.25, seed=0)[1]
    assert [e.stem for e in again] == [e.stem for e in val]
    project.val_stems = ["5"]
    assert "5" in [e.stem for e in project.split(0.25)[1]]


def test_label_mapping(tmp_path):
    data = make_dataset(tmp_path / "d", n=1)
    project = Project.open(data)
    assert project.labels_from_mask(np.array([[0, 255, 1]], np.uint8)).tolist() == [[0, 1, 1]]
    with pytest.raises(MaskValueError, match=r"values \[7\]"):
        project.labels_from_mask(np.array([[0, 7]], np.uint8))
    project.classes = multiclass(["bg", "a", "b"])
    assert project.mask_from_labels(np.array([[0, 1, 2]], np.uint8)).tolist() == [[0, 1, 2]]
    project.save()
    assert Project.open(data).num_classes == 3


def test_bad_project_file(tmp_path):
    data = make_dataset(tmp_path / "d", n=1)
    (data / "segapp.json").write_text("{broken")
    with pytest.raises(ProjectError, match="unreadable project file"):
        Project.open(data)
    (data / "segapp.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ProjectError, match="newer segapp"):
        Project.open(data)


def test_missing_folder(tmp_path):
    with pytest.raises(ProjectError, match="not found"):
        Project.open(tmp_path / "nope")
