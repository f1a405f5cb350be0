"""The malformed-input corpus, generated in a temporary folder (nothing is checked in).

Each case is a function ``make(root) -> Case`` that builds one bad input beside good ones:
an image or mask in a small project, a bad ``segapp.json``, a bad checkpoint or a bad
labelme / COCO source. ``Case`` says where the project, checkpoint and import source are,
so one test runs every case through open, import, export, train and predict.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

GOOD = 3  # good image/mask pairs in every project
SIZE = 32


@dataclass
class Case:
    """One malformed input and where the commands find it."""

    project: Path  # a project (or images/ + masks/ folder) holding the input
    model: Path | None = None  # a checkpoint folder or weights file (None: the good one)
    source: tuple[str, Path] | None = None  # an import source (format, path)
    bad_stems: set[str] = field(default_factory=set)  # images predict must skip
    resume: bool = False  # train --resume into ``model``'s folder
    kind: str = "image"  # image | mask | meta | checkpoint | source


def mask_version(k: int, size: int = 48) -> np.ndarray:
    """Mask version k (class indices 0..2) of the kill test: even k proposals, odd k
    corrections, all different."""
    labels = np.zeros((size, size), np.uint8)
    y, x = divmod(k, 4)
    labels[y * 12 : y * 12 + 20, x * 9 : x * 9 + 20] = 1 + k % 2
    labels[40:, k * 5 : k * 5 + 4] = 2
    return labels


def _pair(i: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(i)
    image = rng.integers(0, 120, (SIZE, SIZE, 3), dtype=np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(mask, (SIZE // 2, SIZE // 2), 4 + 2 * i, 255, -1)
    image[mask > 0] += 120
    return image, mask


def good_project(root: Path, n: int = GOOD) -> Path:
    """root/images/{0..n-1}.png + root/masks/{0..n-1}.png (binary 0/255)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask = _pair(i)
        cv2.imwrite(str(root / "images" / f"{i}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)
    return root


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


def _jpeg(array: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def _noise(h: int, w: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(width: int = 50000, height: int = 50000, color_type: int = 0) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    palette = _chunk(b"PLTE", bytes(range(6))) if color_type == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + palette
        + _chunk(b"IDAT", rows)
        + (_chunk(b"IEND", b""))
    )


def _with_image(name: bytes | str, data: bytes, mask: bytes | None = None, bad: bool = True):
    """A case: a good project plus the image ``name`` (its mask beside it when given)."""

    def make(root: Path) -> Case:
        project = good_project(root / "project")
        fname = os.fsdecode(name) if isinstance(name, bytes) else name
        (project / "images" / fname).write_bytes(data)
        stem = Path(fname).stem
        if mask is not None:
            (project / "masks" / f"{stem}.png").write_bytes(mask)
        return Case(project, bad_stems={stem} if bad else set())

    return make


def _with_mask(stem: str, mask: bytes):
    """A case: a good image ``stem`` whose mask file holds ``mask``."""

    def make(root: Path) -> Case:
        project = good_project(root / "project")
        image, _ = _pair(9)
        cv2.imwrite(str(project / "images" / f"{stem}.png"), image)
        (project / "masks" / f"{stem}.png").write_bytes(mask)
        return Case(project, kind="mask")

    return make


def _meta(meta: dict | str | bytes):
    """A case: a good project whose segapp.json holds ``meta`` (a dict is written as JSON)."""

    def make(root: Path) -> Case:
        project = good_project(root / "project")
        data = json.dumps(meta) if isinstance(meta, dict) else meta
        raw = data.encode() if isinstance(data, str) else data
        (project / "segapp.json").write_bytes(raw)
        source = ("labelme", _labelme_folder(root / "labelme"))
        return Case(project, source=source, kind="meta")

    return make


def _classes(*entries) -> dict:
    return {"format": 1, "classes": list(entries)}


BG = {"name": "background", "color": [0, 0, 0], "value": 0}
FG = {"name": "foreground", "color": [255, 0, 0], "value": 255}


def _labelme_doc(name: str = "a.png", **changes) -> dict:
    image, _ = _pair(5)
    doc = {
        "version": "5.5.0",
        "flags": {},
        "shapes": [
            {
                "label": "cell",
                "points": [[4, 4], [20, 4], [20, 20], [4, 20]],
                "shape_type": "polygon",
                "group_id": None,
                "flags": {},
            }
        ],
        "imagePath": name,
        "imageData": base64.b64encode(_png(image)).decode(),
        "imageHeight": SIZE,
        "imageWidth": SIZE,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not _DROP}


_DROP = object()


def _labelme_folder(folder: Path, *docs: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs or (_labelme_doc(),)):
        (folder / f"{i}.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return folder


def _labelme(*docs: dict):
    def make(root: Path) -> Case:
        project = good_project(root / "project")
        good = _labelme_doc("good.png")
        source = ("labelme", _labelme_folder(root / "lm", good, *docs))
        return Case(project, source=source, kind="source")

    return make


def _coco(doc: dict | str):
    def make(root: Path) -> Case:
        project = good_project(root / "project")
        folder = root / "coco"
        (folder / "images").mkdir(parents=True)
        image, _ = _pair(4)
        cv2.imwrite(str(folder / "images" / "a.png"), image)
        path = folder / "annotations.json"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return Case(project, source=("coco", path), kind="source")

    return make


def _coco_doc(**changes) -> dict:
    doc = {
        "images": [{"id": 1, "file_name": "images/a.png", "width": SIZE, "height": SIZE}],
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[4, 4, 20, 4, 20, 20, 4, 20]],
                "iscrowd": 0,
            }
        ],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not _DROP}


def _checkpoint(kind: str):
    """A case: a bad checkpoint (made from ``good_model``, built by the test once)."""

    def make(root: Path) -> Case:
        project = good_project(root / "project")
        return Case(project, model=root / "ckpt", resume=kind == "last", kind="checkpoint")

    make.checkpoint = kind  # type: ignore[attr-defined]
    return make


def _image_cases() -> dict[str, Callable[[Path], Case]]:
    img = _noise(SIZE, SIZE)
    mask = _png(np.zeros((SIZE, SIZE), np.uint8))
    png, jpg = _png(img), _jpeg(_noise(256, 256))
    tif = cv2.imencode(".tif", img)[1].tobytes()
    return {
        "truncated png": _with_image("t.png", png[: len(png) // 2], mask),
        "truncated jpeg": _with_image("t.jpg", jpg[: len(jpg) // 2], mask),
        "jpeg cut short, valid end marker": _with_image(
            "c.jpg", jpg[: len(jpg) * 6 // 10] + b"\xff\xd9", mask
        ),
        "truncated tiff": _with_image("t.tif", tif[: len(tif) // 2], mask),
        "zero-byte image": _with_image("z.png", b"", mask),
        "text named .png": _with_image("w.png", b"not an image at all\n" * 20, mask),
        "jpeg named .png": _with_image("j.png", _jpeg(img), mask, bad=False),
        "1x1 image": _with_image(
            "one.png", _png(img[:1, :1]), _png(np.zeros((1, 1), np.uint8)), False
        ),
        "1x100000 image": _with_image(
            "line.png", _png(_noise(1, 100000)), _png(np.zeros((1, 100000), np.uint8)), False
        ),
        "50000x50000 png header": _with_image("bomb.png", png_bomb(), mask),
        "50000x50000 palette png header": _with_image("pbomb.png", png_bomb(color_type=3), mask),
        "non-utf-8 file name": _with_image(b"caf\xe9-\xff.png", png, mask, bad=False),
        "very long file name": _with_image("n" * 251 + ".png", png, mask, bad=False),
        "zero-byte mask": _with_mask("zm", b""),
        "truncated mask": _with_mask("tm", mask[: len(mask) // 2]),
        "mask of another size": _with_mask("sm", _png(np.zeros((20, 50), np.uint8))),
        "colour mask": _with_mask("cm", _png(img)),
        "mask with values not classes": _with_mask("vm", _png(np.full((SIZE, SIZE), 7, np.uint8))),
        "16-bit mask above 255": _with_mask("bm", _png(np.full((SIZE, SIZE), 999, np.uint16))),
    }


def _meta_cases() -> dict[str, Callable[[Path], Case]]:
    return {
        "segapp.json truncated": _meta(json.dumps(_classes(BG, FG))[:25]),
        "segapp.json not UTF-8": _meta(b'{"format": 1, "classes": [], "x": "\xff\xfe"}'),
        "segapp.json a list": _meta("[1, 2]"),
        "segapp.json classes a string": _meta({"format": 1, "classes": "background"}),
        "segapp.json classes a dict": _meta({"format": 1, "classes": {"a": 1}}),
        "segapp.json class colour a string": _meta(
            _classes(BG, {"name": "fg", "color": "red", "value": 255})
        ),
        "segapp.json class value a string": _meta(
            _classes(BG, {"name": "fg", "color": [1, 2, 3], "value": "x"})
        ),
        "segapp.json images a list": _meta({"format": 1, "images": ["0", "1"]}),
        "segapp.json image record a string": _meta({"format": 1, "images": {"0": "corrected"}}),
        "segapp.json val_stems a number": _meta({"format": 1, "val_stems": 3}),
        "segapp.json format a string": _meta({"format": "one"}),
        "segapp.json images_dir a number": _meta({"format": 1, "images_dir": 5}),
        "segapp.json unknown keys": _meta(
            {"format": 1, "classes": [BG, FG], "zz_future": {"a": 1}}
        ),
        "segapp.json class entry without value": _meta(
            _classes(BG, {"name": "fg", "color": [1, 2, 3]})
        ),
        "segapp.json class value 300": _meta(
            _classes(BG, {"name": "fg", "color": [1, 2, 3], "value": 300})
        ),
        "segapp.json two classes on one value": _meta(
            _classes(
                BG,
                {"name": "a", "color": [1, 2, 3], "value": 1},
                {"name": "b", "color": [1, 2, 3], "value": 1},
            )
        ),
        "segapp.json images_dir absolute": _meta({"format": 1, "images_dir": "/"}),
        "segapp.json masks_dir ..": _meta({"format": 1, "masks_dir": "../outside"}),
        "segapp.json images_dir ..": _meta({"format": 1, "images_dir": "../.."}),
    }


def _checkpoint_cases() -> dict[str, Callable[[Path], Case]]:
    return {
        name: _checkpoint(kind)
        for name, kind in {
            "checkpoint config.json without weights": "no-weights",
            "checkpoint config.json without a model": "no-model",
            "checkpoint config.json truncated": "truncated-config",
            "checkpoint weights of another shape": "other-shape",
            "checkpoint weights truncated": "truncated-weights",
            "pickled code in a .pt file": "pickle",
            "--resume with an incomplete last/": "last",
        }.items()
    }


def _interop_cases() -> dict[str, Callable[[Path], Case]]:
    return {
        "labelme without shapes": _labelme(_labelme_doc(shapes=_DROP)),
        "labelme shape without points": _labelme(
            _labelme_doc(shapes=[{"label": "cell", "shape_type": "polygon"}])
        ),
        "labelme without imagePath or imageData": _labelme(
            _labelme_doc(imagePath=_DROP, imageData=_DROP)
        ),
        "labelme imageData not base64": _labelme(_labelme_doc("zz.png", imageData="%%%")),
        "labelme points not numbers": _labelme(
            _labelme_doc(shapes=[{"label": "c", "points": [["a", "b"]], "shape_type": "polygon"}])
        ),
        "labelme file not JSON": _labelme("{ not json"),  # type: ignore[arg-type]
        "coco without images": _coco(_coco_doc(images=_DROP)),
        "coco without categories": _coco(_coco_doc(categories=_DROP)),
        "coco image without file_name": _coco(_coco_doc(images=[{"id": 1}])),
        "coco annotation without segmentation": _coco(
            _coco_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 1}])
        ),
        "coco annotation with unknown category": _coco(
            _coco_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 9, "segmentation": []}])
        ),
        "coco segmentation a string": _coco(
            _coco_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "segmentation": "x"}])
        ),
        "coco file truncated": _coco(json.dumps(_coco_doc())[:40]),
    }


CASES: dict[str, Callable[[Path], Case]] = (
    _image_cases() | _meta_cases() | _checkpoint_cases() | _interop_cases()
)
