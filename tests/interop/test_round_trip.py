"""Export then import gives the same masks, for every format.

Tolerances (asserted below): COCO RLE, VOC and folders are exact by construction; labelme
and COCO polygons are exact too (0 pixels differ) on masks with holes, classes inside
holes, 1-pixel dots, thin lines and ignore strips, and on random noise masks; YOLO is exact
except where it cannot hold the mask: a background hole inside an object comes back filled
with the object's class and ignore pixels come back as what is under them.
"""

from __future__ import annotations

import numpy as np
import pytest
from interop_helpers import CLASSES, class_names, labels_by_stem, make_project, sample_labels
from PIL import Image, ImageDraw

from segapp.interop import coco, folders, labelme, voc, yolo
from segapp.interop.shapes import corner_outline, paint, regions
from segapp.interop.sink import ProjectSink

FORMATS = {
    "coco": (coco.export_coco, lambda out, sink: coco.import_coco(out / "annotations.json", sink)),
    "coco-polygons": (
        lambda p, d: coco.export_coco(p, d, polygons=True),
        lambda out, sink: coco.import_coco(out / "annotations.json", sink),
    ),
    "voc": (voc.export_voc, voc.import_voc),
    "labelme": (labelme.export_labelme, labelme.import_labelme),
    "folders": (folders.export_folders, folders.import_folders),
    "yolo": (yolo.export_yolo, yolo.import_yolo),
}


def _round_trip(tmp_path, fmt: str, hard: bool = True) -> tuple[dict, dict]:
    make_project(tmp_path / "p", hard=hard, suffix=".jpg" if fmt == "voc" else ".png")
    before = labels_by_stem(tmp_path / "p")
    export, import_ = FORMATS[fmt]
    from segapp.core.project import Project

    report = export(Project.open(tmp_path / "p"), tmp_path / "out")
    assert report.images == 3 and not report.skipped
    sink = ProjectSink(tmp_path / "q")
    import_(tmp_path / "out", sink)
    result = sink.finish()
    assert result.added == 3 and result.written == 3 and not result.skipped
    return before, labels_by_stem(tmp_path / "q")


@pytest.mark.parametrize("fmt", ["coco", "coco-polygons", "voc", "labelme", "folders"])
def test_export_then_import_gives_the_same_masks(tmp_path, fmt):
    before, after = _round_trip(tmp_path, fmt)
    assert sorted(after) == sorted(before) == ["img0", "img1", "img2"]
    for stem, labels in before.items():
        assert (labels == 255).any()  # the ignore strip went through too
        np.testing.assert_array_equal(after[stem], labels, err_msg=f"{fmt} {stem}")
    assert class_names(tmp_path / "q") == CLASSES


@pytest.mark.parametrize("fmt", ["coco", "coco-polygons", "voc"])
def test_class_colours_come_back_where_the_format_can_hold_them(tmp_path, fmt):
    """COCO categories carry segapp's colour as an extra ``color`` (other tools ignore it),
    VOC masks in their palette; COCO's came back as the defaults. (Folder masks stay gray
    values, which any tool reads; YOLO and labelme have no place for a colour.)"""
    from segapp.core.classes import ClassInfo
    from segapp.core.project import Project

    project = make_project(tmp_path / "p")
    project.classes = [
        ClassInfo("background", (0, 0, 0), 0),
        ClassInfo("cat", (10, 200, 30), 1),
        ClassInfo("dog", (250, 240, 5), 2),
    ]
    project.save()
    export, import_ = FORMATS[fmt]
    export(Project.open(tmp_path / "p"), tmp_path / "out")
    sink = ProjectSink(tmp_path / "q")
    import_(tmp_path / "out", sink)
    sink.finish()
    colours = {c.name: tuple(c.color) for c in Project.open(tmp_path / "q").classes}
    assert colours["cat"] == (10, 200, 30) and colours["dog"] == (250, 240, 5)


def test_yolo_round_trip_exact_but_for_what_yolo_cannot_hold(tmp_path):
    before, after = _round_trip(tmp_path, "yolo", hard=False)
    for stem, labels in before.items():
        np.testing.assert_array_equal(after[stem], labels)
    assert class_names(tmp_path / "q") == CLASSES
    # a background hole and ignore pixels: the hole is filled, ignore becomes background
    ring = sample_labels(hard=True)
    hole = ring != sample_labels(hard=False)
    hole[:, 0] = False
    project = make_project(tmp_path / "h", n=1, hard=True)
    yolo.export_yolo(project, tmp_path / "hy")
    sink = ProjectSink(tmp_path / "hq")
    yolo.import_yolo(tmp_path / "hy", sink)
    sink.finish()
    got = labels_by_stem(tmp_path / "hq")["img0"]
    assert hole.any() and (got[hole] == 1).all()
    assert (got[:, 0] != 255).all()
    assert (got[~hole & (ring != 255)] == ring[~hole & (ring != 255)]).all()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools on NumPy 2
def test_polygons_paint_random_masks_back_exactly():
    """OpenCV (YOLO import), Pillow (labelme import, as labelme draws) and pycocotools
    (COCO import, outlines around pixel corners) all rebuild noise masks from the regions."""
    import pycocotools.mask as mask_api

    rng = np.random.default_rng(3)
    for _ in range(40):
        h, w = rng.integers(3, 40, 2)
        labels = (rng.random((h, w)) * rng.integers(2, 5)).astype(np.uint8)
        labels[rng.random((h, w)) < 0.1] = 255
        found = regions(labels)
        assert np.array_equal(paint(labels.shape, [(r.value, r.outline) for r in found]), labels)
        pil = Image.new("L", (int(w), int(h)))
        draw = ImageDraw.Draw(pil)
        coco_mask = np.zeros_like(labels)
        for r in found:
            draw.polygon([tuple(p) for p in r.outline.astype(float)], outline=r.value, fill=r.value)
            rle = mask_api.frPyObjects([corner_outline(r).ravel().tolist()], int(h), int(w))
            coco_mask[mask_api.decode(rle)[..., 0] > 0] = r.value
        assert np.array_equal(np.array(pil), labels)
        assert np.array_equal(coco_mask, labels)


def test_an_export_folder_gets_the_permissions_of_any_new_folder(tmp_path):
    """Not the owner-only mode of a temporary folder: the person's umask decides."""
    import os
    import stat

    project = make_project(tmp_path / "p", n=1)
    old = os.umask(0o022)
    try:
        folders.export_folders(project, tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_export_that_cannot_be_written_names_the_chosen_folder(tmp_path, monkeypatch):
    """A path through a file says which file; a full disk names the folder the person chose,
    not the hidden one the export is written into, and leaves nothing behind."""
    import errno

    from segapp.core import imageio
    from segapp.interop.common import InteropError

    project = make_project(tmp_path / "p", n=2)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InteropError, match="a-file is a file, not a folder"):
        folders.export_folders(project, tmp_path / "a-file" / "out")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imageio.os, "replace", full)  # every atomic write ends in a rename
    with pytest.raises(InteropError) as raised:
        folders.export_folders(project, tmp_path / "out")
    said = str(raised.value)
    assert said.startswith(f"{tmp_path / 'out'}") and "disk is full" in said
    assert ".partial" not in said and "the unfinished export was removed" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "p"]
