"""VOC folders, two plain folders (Carvana's ``_mask.gif``, 0/1, gray index masks) and YOLO
files, as the tests write them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from interop_helpers import class_names, labels_by_stem
from PIL import Image

from segapp.core.palette import voc_colormap
from segapp.core.project import IGNORE_INDEX, Project
from segapp.interop.common import InteropError
from segapp.interop.folders import import_folders
from segapp.interop.sink import ProjectSink
from segapp.interop.voc import import_voc
from segapp.interop.yolo import import_yolo


def _image(path, h=20, w=24):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    cv2.imwrite(str(path), rng.integers(0, 255, (h, w, 3), np.uint8))


def _palette_png(path, indices, palette):
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = Image.fromarray(indices.astype(np.uint8), mode="L")
    pil.putpalette([c for rgb in palette for c in rgb])
    pil.save(path)


def test_voc_palette_masks_class_names_ignore_and_unpaired(tmp_path):
    src = tmp_path / "VOC"
    palette = voc_colormap()
    palette[2] = (10, 200, 30)
    mask = np.zeros((20, 24), np.uint8)
    mask[2:8, 2:8] = 1
    mask[10:18, 5:20] = 2
    mask[0, :] = 255
    for stem in ("2011_000003", "2011_000006"):
        _image(src / "JPEGImages" / f"{stem}.jpg")
        _palette_png(src / "SegmentationClass" / f"{stem}.png", mask, palette)
    _image(src / "JPEGImages" / "detection_only.jpg")
    _palette_png(src / "SegmentationClass" / "orphan.png", mask, palette)
    (src / "class_names.txt").write_text("_background_\naeroplane\nbicycle\nbird\n")
    sink = ProjectSink(tmp_path / "p")
    import_voc(src, sink)
    report = sink.finish()
    assert report.added == 2 and not report.skipped
    assert report.unpaired == [
        "orphan.png (no image)",
        "1 images without a mask in SegmentationClass/",
    ]
    project = Project.open(tmp_path / "p")
    assert [(c.name, c.value) for c in project.classes] == [
        ("background", 0),
        ("aeroplane", 1),
        ("bicycle", 2),
        ("bird", 3),
    ]
    assert project.classes[2].color == (10, 200, 30)  # the palette's colour
    for labels in labels_by_stem(tmp_path / "p").values():
        np.testing.assert_array_equal(labels, mask)  # 255 stays ignore
    with pytest.raises(InteropError, match="not a VOC folder"):
        import_voc(tmp_path / "p", ProjectSink(tmp_path / "q"))


def test_folders_carvana_gif_masks_with_a_suffix(tmp_path):
    src = tmp_path / "carvana"
    for i in range(3):
        _image(src / "train" / f"car{i}.jpg")
        mask = np.zeros((20, 24), np.uint8)
        mask[5:15, 3 + i : 20] = 1
        _palette_png(src / "train_masks" / f"car{i}_mask.gif", mask, [(0, 0, 0), (255, 255, 255)])
    _image(src / "train" / "lonely.jpg")
    sink = ProjectSink(tmp_path / "p")
    import_folders(src, sink, images="train", masks="train_masks", mask_suffix="_mask")
    report = sink.finish()
    assert report.added == 3 and report.unpaired == ["lonely.jpg (no mask)"]
    project = Project.open(tmp_path / "p")
    assert [c.name for c in project.classes] == ["background", "foreground"]
    assert labels_by_stem(tmp_path / "p")["car1"][10, 4:20].tolist() == [1] * 16


@pytest.mark.parametrize("foreground", [1, 255])
def test_folders_binary_masks(tmp_path, foreground):
    src = tmp_path / "d"
    _image(src / "Training_Images" / "a.png")
    mask = np.zeros((20, 24), np.uint8)
    mask[3:9, 3:9] = foreground
    (src / "Ground_Truth").mkdir()
    cv2.imwrite(str(src / "Ground_Truth" / "a.png"), mask)
    sink = ProjectSink(tmp_path / "p")
    import_folders(src, sink, images="Training_Images", masks="Ground_Truth")
    sink.finish()
    assert labels_by_stem(tmp_path / "p")["a"].sum() == 36


def test_folders_black_and_white_masks_with_a_few_stray_values_stay_binary(tmp_path):
    """A drawing program's smoothed edge left 1, 128 and 254 in one 0/255 mask: not three
    classes with the people as "ignore", but foreground from 128 up, and said so. Masks of
    classes with a 255 border (VOC's void) keep 255 as ignore."""
    src = tmp_path / "d"
    for stem in ("a", "b"):
        _image(src / "images" / f"{stem}.png", 40, 48)
    (src / "masks").mkdir()
    mask = np.zeros((40, 48), np.uint8)
    mask[3:33, 3:33] = 255
    cv2.imwrite(str(src / "masks" / "a.png"), mask)
    mask[3, 3], mask[32, 32], mask[35, 35] = 254, 128, 1
    cv2.imwrite(str(src / "masks" / "b.png"), mask)
    sink = ProjectSink(tmp_path / "p")
    import_folders(src, sink)
    report = sink.finish()
    labels = labels_by_stem(tmp_path / "p")
    assert class_names(tmp_path / "p") == ["background", "foreground"]
    assert labels["a"].sum() == 900 and labels["b"].sum() == 900  # 254, 128 in; 1 out
    assert any(
        "black and white but for 3 pixels of 3 other values (1, 128, 254)" in line
        for line in report.lines()
    )

    voc = tmp_path / "v"
    _image(voc / "images" / "c.png")
    (voc / "masks").mkdir()
    classes = np.zeros((20, 24), np.uint8)
    classes[2:10, 2:10], classes[10:18, 10:18] = 1, 2
    classes[cv2.morphologyEx(classes, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0] = 255
    cv2.imwrite(str(voc / "masks" / "c.png"), classes)
    sink = ProjectSink(tmp_path / "q")
    import_folders(voc, sink)
    sink.finish()
    assert (labels_by_stem(tmp_path / "q")["c"] == IGNORE_INDEX).sum() == (classes == 255).sum()


def test_folders_gray_index_masks_named_by_class_names(tmp_path):
    src = tmp_path / "d"
    mask = np.zeros((20, 24), np.uint8)
    mask[0:5], mask[5:10], mask[10:15] = 1, 2, 3
    _image(src / "images" / "a.png")
    (src / "masks").mkdir()
    cv2.imwrite(str(src / "masks" / "a.png"), mask)
    (src / "class_names.txt").write_text("background\nsky\ntree\nroad\n")
    sink = ProjectSink(tmp_path / "p")
    import_folders(src, sink)
    sink.finish()
    assert class_names(tmp_path / "p") == ["background", "sky", "tree", "road"]
    np.testing.assert_array_equal(labels_by_stem(tmp_path / "p")["a"], mask)


def test_folders_refuse_jpeg_masks_and_report_missing_folders(tmp_path):
    src = tmp_path / "d"
    _image(src / "images" / "a.png")
    noisy = np.random.default_rng(0).integers(0, 255, (20, 24), np.uint8)
    (src / "masks").mkdir()
    cv2.imwrite(str(src / "masks" / "a.png"), noisy)
    with pytest.raises(InteropError, match="distinct values"):
        import_folders(src, ProjectSink(tmp_path / "p"))
    with pytest.raises(InteropError, match="--masks"):
        import_folders(src, ProjectSink(tmp_path / "q"), masks="Ground_Truth")
    with pytest.raises(InteropError, match="no image in images/ has a mask"):
        import_folders(src, ProjectSink(tmp_path / "r"), mask_suffix="_mask")


def test_yolo_boxes_counted_missing_label_file_is_background(tmp_path):
    src = tmp_path / "yolo"
    _image(src / "images" / "a.png")
    _image(src / "images" / "b.png")
    (src / "labels").mkdir()
    (src / "labels" / "a.txt").write_text(
        "0 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5\n1 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.9 0.5 0.9 0.9\n"
    )
    (src / "data.yaml").write_text("names: [cat, dog]\n")
    sink = ProjectSink(tmp_path / "p")
    import_yolo(src, sink)
    report = sink.finish()
    assert report.ignored_shapes == {"box (detection label)": 1}
    assert report.unpaired == ["b.png (no label file: all background)"]
    assert class_names(tmp_path / "p") == ["background", "cat", "dog"]
    masks = labels_by_stem(tmp_path / "p")
    assert set(np.unique(masks["a"]).tolist()) == {0, 1, 2} and not masks["b"].any()


def test_yolo_class_past_the_named_ones_is_refused_not_invented(tmp_path):
    """data.yaml names 2 classes and a line says class 9: that file is skipped with its
    line (as COCO's unknown category is), no "class 2" … "class 9" appear; without a
    data.yaml the ids still become classes of their own."""
    src = tmp_path / "yolo"
    _image(src / "images" / "a.png")
    _image(src / "images" / "b.png")
    (src / "labels").mkdir()
    (src / "labels" / "a.txt").write_text("9 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (src / "labels" / "b.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (src / "data.yaml").write_text("names: [cat, dog]\n")
    sink = ProjectSink(tmp_path / "p")
    import_yolo(src, sink)
    report = sink.finish()
    [(name, why)] = report.skipped
    assert name == "images/a.png" and "line 1: class 9, but data.yaml names 2 classes" in why
    assert report.added == 1  # b.png, whose class 1 is "dog"
    assert class_names(tmp_path / "p") == ["background", "cat", "dog"]
    (src / "data.yaml").unlink()
    sink = ProjectSink(tmp_path / "q")
    import_yolo(src, sink)
    sink.finish()
    assert class_names(tmp_path / "q")[-1] == "class 9"
