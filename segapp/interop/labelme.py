"""labelme: a folder of JSON files, one per image, with polygon-like shapes.

Import: ``polygon``, ``rectangle``, ``circle`` and ``mask`` shapes are painted in file
order (later shapes win, as labelme's ``labelme2voc`` paints them, with the same Pillow
drawing calls); ``line``, ``linestrip``, ``point`` and ``points`` have no area and are
counted, not painted. Label names become classes in the order of a ``labels.txt`` (given,
or found in the folder), then in order of appearance; ``_background_`` is 0 and
``__ignore__`` is the ignore value 255. The image is ``imagePath`` (relative to the JSON)
or, when that file is missing, the embedded ``imageData``.

Export: one JSON per image beside a copy of the image, polygons traced from the mask
(holes kept as later ``_background_`` polygons), and labelme's ``labels.txt``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from pathlib import Path

import numpy as np

from segapp.core.imageio import SegappError, write_bytes_atomic
from segapp.core.palette import IGNORE_NAME, find_class_names, read_class_names
from segapp.core.project import IGNORE_INDEX, Project
from segapp.interop.common import (
    ExportReport,
    InteropError,
    export_pairs,
    image_suffix,
    load_json,
    need,
    new_folder,
)
from segapp.interop.shapes import check_points, regions
from segapp.interop.sink import ProjectSink

NO_AREA = ("line", "linestrip", "point", "points")
LABELME_VERSION = "5.5.0"


def import_labelme(src: Path, sink: ProjectSink, labels: Path | None = None) -> None:
    """Import every ``*.json`` of the folder ``src`` (or the one file ``src``)."""
    src = Path(src)
    if src.is_file():
        files, folder = [src], src.parent
    elif src.is_dir():
        files, folder = sorted(src.glob("*.json")), src
    else:
        raise InteropError(f"{src}: no such file or folder")
    if not files:
        raise InteropError(f"{src}: no labelme JSON files (*.json) in this folder")
    labels = labels or find_class_names(folder)
    if labels is not None:
        for value, name in enumerate(read_class_names(labels)):
            sink.class_value(name, preferred=value)
    for path in files:
        try:
            data = load_json(path)
            image = _image_source(data, path)
        except SegappError as e:
            sink.report.skipped.append((path.name, str(e).removeprefix(f"{path}: ")))
            continue
        sink.add(
            path.stem, image, lambda shape, d=data, p=path: _paint(d, p, shape, sink), path.name
        )


def _image_source(data: dict, path: Path) -> Path | tuple[bytes, str]:
    if not isinstance(data, dict) or "shapes" not in data:
        raise InteropError(f"{path}: not a labelme file (an object with 'shapes')")
    name = data.get("imagePath")
    if isinstance(name, str) and name:
        candidate = path.parent / name.replace("\\", "/")
        if candidate.is_file():
            return candidate
    encoded = data.get("imageData")
    if isinstance(encoded, str) and encoded:
        try:
            raw = base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError) as e:
            raise InteropError(f"{path}: imageData is not base64 ({e})") from e
        suffix = image_suffix(raw)
        if suffix is None:
            raise InteropError(f"{path}: imageData is not a PNG, JPEG, BMP or TIFF image")
        return raw, suffix
    raise InteropError(f"{path}: the image {name!r} is not there and there is no imageData")


def _paint(data: dict, path: Path, shape: tuple[int, int], sink: ProjectSink) -> np.ndarray:
    """The JSON's shapes painted (Pillow, as labelme does) into an HxW mask of project values."""
    from PIL import Image, ImageDraw

    h, w = shape
    size = (data.get("imageHeight"), data.get("imageWidth"))
    if all(isinstance(v, int) for v in size) and size != (h, w):
        raise InteropError(
            f"{path.name}: the JSON says {size[1]}x{size[0]} but the image is {w}x{h}"
        )
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for i, item in enumerate(need(data, "shapes", list, path.name)):
        where = f"{path.name}: shape {i + 1}"
        label = need(item, "label", str, where)
        kind = item.get("shape_type") or "polygon"
        points = _points(need(item, "points", list, where), where)
        check_points(np.array(points), shape, where)
        if kind in NO_AREA:
            sink.report.ignored_shapes[kind] += 1
            continue
        if kind not in ("polygon", "rectangle", "circle", "mask"):
            sink.report.ignored_shapes[f"of unknown type {kind!r}"] += 1
            continue
        value = sink.class_value(label)
        if kind == "polygon":
            if len(points) < 3:
                sink.report.ignored_shapes["polygon of < 3 points"] += 1
                continue
            draw.polygon(points, outline=value, fill=value)
            continue
        if len(points) != 2:
            raise InteropError(f"{where}: a {kind} needs 2 points, got {len(points)}")
        (x1, y1), (x2, y2) = points
        if kind == "rectangle":
            box = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
            draw.rectangle(box, outline=value, fill=value)
        elif kind == "circle":
            r = math.hypot(x2 - x1, y2 - y1)
            draw.ellipse([x1 - r, y1 - r, x1 + r, y1 + r], outline=value, fill=value)
        else:
            bits = _decode_mask(item.get("mask"), where)
            x, y = round(min(x1, x2)), round(min(y1, y2))
            stamp = Image.fromarray((bits * 255).astype(np.uint8))
            canvas.paste(Image.new("L", stamp.size, value), (x, y), stamp)
    return np.array(canvas, np.uint8)


def _points(raw: list, where: str) -> list[tuple[float, float]]:
    try:
        points = [(float(p[0]), float(p[1])) for p in raw]
    except (TypeError, ValueError, IndexError, KeyError) as e:
        raise InteropError(f"{where}: points must be [x, y] pairs of numbers") from e
    return points


def _decode_mask(encoded: object, where: str) -> np.ndarray:
    from PIL import Image

    if not isinstance(encoded, str) or not encoded:
        raise InteropError(f"{where}: a mask shape needs its 'mask' (base64 PNG)")
    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as pil:
            return np.array(pil.convert("L")) > 0
    except (OSError, ValueError, Image.DecompressionBombError) as e:  # binascii.Error too
        raise InteropError(f"{where}: the 'mask' is not a base64 PNG ({e})") from e


def export_labelme(project: Project, dest: Path, proposed: bool = False) -> ExportReport:
    """One labelme JSON per image (and a copy of the image) in the new folder ``dest``."""
    names = ["_background_"] + [c.name for c in project.classes[1:]]
    with new_folder(dest) as out:
        report = ExportReport(Path(dest))
        (out / "labels.txt").write_text("\n".join([IGNORE_NAME, *names]) + "\n", "utf-8")
        for entry, copied, labels in export_pairs(project, proposed, report, out):
            shapes = [
                {
                    "label": IGNORE_NAME if r.value == IGNORE_INDEX else names[r.value],
                    "points": r.outline.astype(float).tolist(),
                    "group_id": None,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                    "mask": None,
                }
                for r in regions(labels)
            ]
            doc = {
                "version": LABELME_VERSION,
                "flags": {},
                "shapes": shapes,
                "imagePath": copied.name,
                "imageData": None,
                "imageHeight": int(labels.shape[0]),
                "imageWidth": int(labels.shape[1]),
            }
            write_bytes_atomic(out / f"{entry.stem}.json", json.dumps(doc, indent=1).encode())
    return report
