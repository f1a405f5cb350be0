"""labelme and COCO files the tests write with the structures of labelme's own examples
(``examples/semantic_segmentation`` and its ``labelme2voc``/``labelme2coco`` exports)."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
from interop_helpers import class_names, labels_by_stem
from PIL import Image, ImageDraw

from segapp.core.palette import voc_colormap
from segapp.interop.coco import import_coco
from segapp.interop.common import InteropError
from segapp.interop.labelme import import_labelme
from segapp.interop.sink import ProjectSink
from segapp.interop.voc import import_voc

H, W = 30, 40
LABELS = ["__ignore__", "_background_", "person", "car", "bottle"]


def _shape(label, points, kind="polygon", **extra):
    return {
        "label": label,
        "points": points,
        "group_id": None,
        "shape_type": kind,
        "flags": {},
    } | extra


def _mask_b64(bits: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", bits.astype(np.uint8))
    return base64.b64encode(buf.tobytes()).decode()


SHAPES = [
    _shape("person", [[2, 2], [20, 3], [18, 25], [4, 20]]),
    _shape("car", [[15, 10], [30, 22]], "rectangle"),  # over the person: later wins
    _shape("bottle", [[32, 8], [32, 13]], "circle"),
    _shape("person", [[1, 28], [39, 28]], "line"),  # no area: counted, not painted
    _shape("car", [[5, 5]], "point"),
    _shape("bottle", [[22, 24], [27, 28]], "mask", mask=_mask_b64(np.eye(5, dtype=bool))),
    _shape("__ignore__", [[35, 20], [39, 20], [39, 29], [35, 29]]),
]


def _expected(values: dict[str, int]) -> np.ndarray:
    """What labelme's shape_to_mask + shapes_to_label paint (written out here with Pillow)."""
    pil = Image.new("L", (W, H))
    draw = ImageDraw.Draw(pil)
    draw.polygon(
        [(2, 2), (20, 3), (18, 25), (4, 20)], outline=values["person"], fill=values["person"]
    )
    draw.rectangle([15, 10, 30, 22], outline=values["car"], fill=values["car"])
    r = 5.0
    draw.ellipse([32 - r, 8 - r, 32 + r, 8 + r], outline=values["bottle"], fill=values["bottle"])
    out = np.array(pil)
    out[24:29, 22:27][np.eye(5, dtype=bool)] = values["bottle"]
    cv2.fillPoly(out, [np.array([[35, 20], [39, 20], [39, 29], [35, 29]])], 255)
    return out


def _write_labelme(folder, embedded: bool):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (H, W, 3), np.uint8)
    ok, png = cv2.imencode(".png", image)
    doc = {"version": "5.5.0", "flags": {}, "shapes": SHAPES, "imageHeight": H, "imageWidth": W}
    if embedded:  # only the embedded image (labelme's default); imagePath points nowhere
        doc |= {"imagePath": "gone.png", "imageData": base64.b64encode(png.tobytes()).decode()}
        name = "b"
    else:
        (folder / "a.png").write_bytes(png.tobytes())
        doc |= {"imagePath": "a.png", "imageData": None}
        name = "a"
    (folder / f"{name}.json").write_text(json.dumps(doc))


def test_labelme_folder_with_labels_txt(tmp_path):
    src = tmp_path / "data_annotated"
    _write_labelme(src, embedded=False)
    _write_labelme(src, embedded=True)
    (src / "labels.txt").write_text("\n".join(LABELS) + "\n")
    sink = ProjectSink(tmp_path / "p")
    import_labelme(src, sink)
    report = sink.finish()
    assert report.added == 2 and report.written == 2 and not report.skipped
    assert report.ignored_shapes == {"line": 2, "point": 2}
    assert class_names(tmp_path / "p") == ["background", "person", "car", "bottle"]
    masks = labels_by_stem(tmp_path / "p")
    expected = _expected({"person": 1, "car": 2, "bottle": 3})
    for stem in ("a", "b"):
        np.testing.assert_array_equal(masks[stem], expected)
    assert (tmp_path / "p" / "images" / "b.png").exists()  # the embedded image, written out


def test_labelme_and_its_voc_export_import_to_the_same_masks(tmp_path):
    """labelme2voc's output (palette PNGs of the same painting, -1 -> 255) imports to the
    masks of the JSON files, class by class."""
    src = tmp_path / "data_annotated"
    _write_labelme(src, embedded=False)
    voc = tmp_path / "data_dataset_voc"
    for sub in ("JPEGImages", "SegmentationClassPNG"):
        (voc / sub).mkdir(parents=True)
    (voc / "JPEGImages" / "a.png").write_bytes((src / "a.png").read_bytes())
    label = Image.fromarray(_expected({"person": 1, "car": 2, "bottle": 3}), mode="L")
    label.putpalette([c for rgb in voc_colormap() for c in rgb])  # as labelme's lblsave
    label.save(voc / "SegmentationClassPNG" / "a.png")
    (voc / "class_names.txt").write_text("\n".join(LABELS[1:]))
    (src / "labels.txt").write_text("\n".join(LABELS))
    for source, importer in ((src, import_labelme), (voc, import_voc)):
        sink = ProjectSink(source / "p")
        importer(source, sink)
        sink.finish()
    from_json = labels_by_stem(src / "p")
    from_voc = labels_by_stem(voc / "p")
    np.testing.assert_array_equal(from_json["a"], from_voc["a"])
    assert class_names(src / "p") == class_names(voc / "p")


def test_labelme_without_labels_takes_names_in_order_of_appearance(tmp_path):
    src = tmp_path / "json"
    _write_labelme(src, embedded=False)
    sink = ProjectSink(tmp_path / "p")
    import_labelme(src, sink)
    sink.finish()
    assert class_names(tmp_path / "p") == ["background", "person", "car", "bottle"]


def test_labelme_bad_files_are_skipped_with_a_reason(tmp_path):
    src = tmp_path / "json"
    _write_labelme(src, embedded=False)
    (src / "broken.json").write_text("{not json")
    (src / "noimage.json").write_text(json.dumps({"shapes": [], "imagePath": "x.png"}))
    (src / "badshape.json").write_text(
        json.dumps({"shapes": [{"label": "a", "points": "nope"}], "imagePath": "a.png"})
    )
    sink = ProjectSink(tmp_path / "p")
    import_labelme(src, sink)
    report = sink.finish()
    reasons = dict(report.skipped)
    assert set(reasons) == {"broken.json", "noimage.json", "badshape.json"}
    assert "not valid JSON" in reasons["broken.json"]
    assert "no imageData" in reasons["noimage.json"]
    assert "'points' must be list" in reasons["badshape.json"]
    assert report.added == 1
    with pytest.raises(InteropError, match="no labelme JSON"):
        import_labelme(tmp_path / "p" / "masks", ProjectSink(tmp_path / "q"))


def _coco_file(tmp_path, annotations, categories, subfolder="JPEGImages"):
    (tmp_path / subfolder).mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(0).integers(0, 255, (H, W, 3), np.uint8)
    cv2.imwrite(str(tmp_path / subfolder / "x.jpg"), image)
    doc = {
        "images": [{"id": 7, "file_name": f"{subfolder}/x.jpg", "height": H, "width": W}],
        "categories": categories,
        "annotations": annotations,
    }
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools on NumPy 2
def test_coco_polygons_rle_and_uncompressed_rle(tmp_path):
    import pycocotools.mask as mask_api

    square = np.zeros((H, W), np.uint8)
    square[5:15, 20:35] = 1
    rle = mask_api.encode(np.asfortranarray(square))
    crowd = np.zeros((H, W), np.uint8)
    crowd[20:28, 2:10] = 1
    flat = crowd.ravel(order="F")
    change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], change])).tolist()
    polygon = [3, 3, 15, 3, 15, 12, 3, 12]
    anns = [
        {"id": 1, "image_id": 7, "category_id": 3, "segmentation": [polygon], "iscrowd": 0},
        {
            "id": 2,
            "image_id": 7,
            "category_id": 12,
            "iscrowd": 0,
            "segmentation": {"size": [H, W], "counts": rle["counts"].decode()},
        },
        {
            "id": 3,
            "image_id": 7,
            "category_id": 1,
            "iscrowd": 1,
            "segmentation": {"size": [H, W], "counts": counts},
        },
    ]
    cats = [  # ids with gaps, listed out of order; labelme2coco's _background_ at id 0
        {"id": 12, "name": "dog"},
        {"id": 0, "name": "_background_"},
        {"id": 3, "name": "cat"},
        {"id": 1, "name": "bird"},
    ]
    sink = ProjectSink(tmp_path / "p")
    import_coco(_coco_file(tmp_path, anns, cats), sink)
    assert sink.finish().written == 1
    # categories in id order: bird (1) -> 1, cat (3) -> 2, dog (12) -> 3
    assert class_names(tmp_path / "p") == ["background", "bird", "cat", "dog"]
    expected = np.zeros((H, W), np.uint8)
    poly = mask_api.decode(mask_api.frPyObjects([polygon], H, W))[..., 0]
    expected[poly > 0] = 2
    expected[square > 0] = 3
    expected[crowd > 0] = 1
    np.testing.assert_array_equal(labels_by_stem(tmp_path / "p")["x"], expected)


@pytest.mark.parametrize(
    "segmentation, message",
    [
        ({"size": [H, W], "counts": [5, 3]}, "add up"),
        ({"size": [H + 1, W], "counts": "abc"}, "RLE size"),
        ([[1, 2, 3]], "flat lists"),
        ([[1, 2, "a", 4, 5, 6]], "numbers"),
        ("nothing", "must be list/dict"),
        ([[1e30, 1e30, 2, 2, 3, 4]], "far outside"),  # pycocotools would never return
        ([[float("nan"), 1, 2, 2, 3, 4]], "not a finite number"),
    ],
)
def test_coco_bad_segmentations_skip_the_image_with_a_reason(tmp_path, segmentation, message):
    anns = [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": segmentation}]
    sink = ProjectSink(tmp_path / "p")
    import_coco(_coco_file(tmp_path, anns, [{"id": 1, "name": "a"}]), sink)
    report = sink.finish()
    assert report.added == 0 and len(report.skipped) == 1
    assert message in report.skipped[0][1]
    assert not (tmp_path / "p").exists()  # nothing half-imported, no empty project left


def test_coco_missing_keys_and_images_folder(tmp_path):
    path = _coco_file(tmp_path, [], [{"id": 1, "name": "a"}], subfolder="elsewhere")
    doc = json.loads(path.read_text())
    doc["images"][0]["file_name"] = "x.jpg"
    path.write_text(json.dumps(doc))
    sink = ProjectSink(tmp_path / "p")
    import_coco(path, sink)
    assert "not found" in sink.finish().skipped[0][1]
    sink = ProjectSink(tmp_path / "q")
    import_coco(path, sink, images=tmp_path / "elsewhere")
    assert sink.finish().added == 1  # an image without annotations: all background
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(InteropError, match="'categories' is missing"):
        import_coco(path, ProjectSink(tmp_path / "r"))
