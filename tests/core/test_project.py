"""Projects are plain folders: open existing images/+masks/, bare image folders, metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_dataset

from segapp.core.classes import multiclass
from segapp.core.imageio import MaskValueError, WriteError, read_mask
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


def _proposed_and_corrected(tmp_path) -> Project:
    """3 masks: two corrected, one a proposal nobody reviewed (as Propose all leaves it)."""
    data = make_dataset(tmp_path / "d", n=4, masks=2)
    project = Project.open(data)
    labels = np.zeros((32, 32), np.uint8)
    labels[4:20, 4:20] = 1
    project.write_labels(project.entry("2"), labels, "proposed", "v001")
    project.extra["active_model"] = "v001"
    project.save()
    return project


@pytest.mark.parametrize("damage", [b"", b'{"format": 1, "images": {"0": {"sta', b"[1, 2]"])
def test_a_damaged_project_file_is_recovered_from_its_backup(tmp_path, damage):
    """Moving a damaged segapp.json aside, as the error advised, turned every unreviewed
    proposal into a corrected mask that the next round trained on."""
    project = _proposed_and_corrected(tmp_path)
    meta = project.meta_path
    assert (meta.parent / "segapp.json.bak").read_bytes() == meta.read_bytes()
    labels = np.ones((32, 32), np.uint8)
    project.write_labels(project.entry("3"), labels, "corrected")  # journalled, not in .bak
    meta.write_bytes(damage)  # cut short, a sync conflict, a bad hand edit
    reopened = Project.open(project.root)
    statuses = {e.stem: e.status for e in reopened.entries}
    assert statuses == {"0": "corrected", "1": "corrected", "2": "proposed", "3": "corrected"}
    assert reopened.entry("2").proposed_by == "v001" and reopened.adopted == []
    assert reopened.extra["active_model"] == "v001"
    assert reopened.recovered.startswith("segapp.json is damaged (")
    assert "opened from its backup segapp.json.bak of " in reopened.recovered
    reopened.save()  # the window saves on opening: the damaged file is kept for a look
    assert (meta.parent / "segapp.json.damaged").read_bytes() == damage
    assert Project.open(project.root).recovered == ""
    assert Project.open(project.root).entry("2").status == "proposed"


def test_a_project_file_gone_beside_its_backup_is_recovered(tmp_path):
    project = _proposed_and_corrected(tmp_path)
    project.meta_path.rename(project.root / "elsewhere.json")  # moved aside
    reopened = Project.open(project.root)
    assert reopened.entry("2").status == "proposed"
    assert reopened.recovered.startswith("segapp.json is missing; the project was opened")


def test_without_a_usable_backup_the_damage_says_what_moving_it_aside_does(tmp_path):
    project = _proposed_and_corrected(tmp_path)
    project.meta_path.write_text("{broken")
    (project.root / "segapp.json.bak").write_text("{broken too")
    with pytest.raises(ProjectError, match="unreadable project file") as e:
        Project.open(project.root)
    assert "every mask then counts as corrected, unreviewed proposals too" in str(e.value)
    project.meta_path.unlink()  # moved aside, with a damaged backup: opened as a folder
    assert Project.open(project.root).entry("2").status == "corrected"


def test_no_mask_is_written_for_an_image_no_longer_there(tmp_path):
    project = Project.open(make_dataset(tmp_path / "d", n=2, masks=0))
    entry = project.entries[0]
    entry.image_path.unlink()  # deleted or moved while the project was open
    with pytest.raises(WriteError, match="no longer there"):
        project.write_labels(entry, np.ones((32, 32), np.uint8), "corrected")
    assert not entry.mask_path.exists() and entry.status == "unlabeled"
    assert not project.journal_path.exists()  # nothing journalled either


def test_missing_folder(tmp_path):
    with pytest.raises(ProjectError, match="not found"):
        Project.open(tmp_path / "nope")


def test_a_mask_refused_for_its_size_is_not_counted_as_scaled(tmp_path):
    """The train log said "1 masks were scaled" of a mask it had refused."""
    import cv2

    from segapp.core.imageio import MaskSizeError

    data = make_dataset(tmp_path / "d", n=2, height=32, width=32)
    cv2.imwrite(str(data / "masks" / "0.png"), np.zeros((20, 32), np.uint8))  # another aspect
    cv2.imwrite(str(data / "masks" / "1.png"), np.zeros((64, 64), np.uint8))  # twice the size
    project = Project.open(data)
    with pytest.raises(MaskSizeError):
        project.read_labels(project.entry("0"), (32, 32))
    assert project.read_labels(project.entry("1"), (32, 32)).shape == (32, 32)
    assert project.rescaled_masks == {"1"}
