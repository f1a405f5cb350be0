"""Re-importing into a project: new images are added, a corrected mask is never replaced
without asking, the same image is not copied twice, another image of the same stem is
renamed, classes merge by name."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from interop_helpers import class_names, labels_by_stem

from segapp.core.imageio import read_mask
from segapp.core.project import Project
from segapp.interop.common import InteropError
from segapp.interop.folders import import_folders
from segapp.interop.sink import ProjectSink


def _source(root, stems, value=1, seed=0):
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for stem in stems:
        cv2.imwrite(
            str(root / "images" / f"{stem}.png"), rng.integers(0, 255, (16, 20, 3), np.uint8)
        )
        mask = np.zeros((16, 20), np.uint8)
        mask[4:10, 4:12] = value
        cv2.imwrite(str(root / "masks" / f"{stem}.png"), mask)
    return root


def _import(src, project, **kw):
    sink = ProjectSink(project, overwrite=kw.pop("overwrite", False))
    import_folders(src, sink, **kw)
    return sink.finish()


def test_reimport_keeps_corrected_masks_unless_overwrite(tmp_path):
    src = _source(tmp_path / "src", ["a", "b", "c"])
    project_dir = tmp_path / "p"
    first = _import(src, project_dir)
    assert (first.added, first.written) == (3, 3)
    project = Project.open(project_dir)
    edited = project.read_labels(project.entry("a"))
    edited[0:3, 0:3] = 1  # a person corrects mask a
    project.write_labels(project.entry("a"), edited, "corrected")
    proposal = np.zeros((16, 20), np.uint8)
    project.write_labels(project.entry("b"), proposal, "proposed", proposed_by="v001")
    _source(src, ["d"])

    again = _import(src, project_dir)
    assert (again.added, again.written) == (1, 2)  # d is new; b's proposal is replaced
    assert again.kept == ["a"] and again.replaced_proposals == 1 and not again.renamed
    assert labels_by_stem(project_dir)["a"][0:3, 0:3].all()  # the correction survived
    assert Project.open(project_dir).entry("b").status == "corrected"
    assert len(list((project_dir / "images").iterdir())) == 4  # nothing copied twice

    forced = _import(src, project_dir, overwrite=True)
    assert forced.overwritten == ["a"] and forced.written == 1
    assert not labels_by_stem(project_dir)["a"][0:3, 0:3].any()


def test_another_image_with_a_taken_stem_is_renamed(tmp_path):
    _import(_source(tmp_path / "one", ["a"], seed=0), tmp_path / "p")
    report = _import(_source(tmp_path / "two", ["a"], seed=1), tmp_path / "p")
    assert report.renamed == [("a", "a_2")] and report.added == 1
    assert sorted(labels_by_stem(tmp_path / "p")) == ["a", "a_2"]


def test_classes_merge_by_name_into_a_binary_project(tmp_path):
    """A plain images/ + masks/ folder (0/255, binary) takes imported classes beside its own."""
    existing = _source(tmp_path / "p", ["old"], value=255)
    src = _source(tmp_path / "src", ["new"], value=2)
    (src / "class_names.txt").write_text("background\nfoo\nforeground\n")
    report = _import(src, existing)
    assert report.classes_added == [] and report.written == 1
    assert class_names(existing) == ["background", "foreground"]
    assert read_mask(existing / "masks" / "new.png").max() == 255  # its value for foreground


def test_a_failed_import_into_a_new_folder_leaves_nothing(tmp_path):
    sink = ProjectSink(tmp_path / "new")
    sink.discard_if_empty()
    assert not (tmp_path / "new").exists()


def test_a_folder_that_is_no_project_is_refused(tmp_path):
    (tmp_path / "Desktop").mkdir()
    (tmp_path / "Desktop" / "notes.txt").write_text("mine")
    with pytest.raises(InteropError, match="neither a project"):
        ProjectSink(tmp_path / "Desktop")
    assert [p.name for p in (tmp_path / "Desktop").iterdir()] == ["notes.txt"]
