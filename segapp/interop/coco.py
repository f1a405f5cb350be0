"""COCO: one JSON file of images, categories and annotations (polygons or RLE).

Import: instance or semantic files alike; polygons, compressed and uncompressed RLE are
decoded by pycocotools and painted in file order (later annotations win). ``file_name`` is
relative to the JSON's folder (or to ``images``). Categories are taken in order of their
``id``: ``_background_``/``background`` is 0, ``__ignore__`` the ignore value 255, and the
others get the values 1, 2, ... in that order (a name the project knows keeps its value).

Export: ``annotations.json`` and ``images/``. By default one RLE annotation per class and
image (exact); with ``polygons``, one polygon per region of :mod:`segapp.interop.shapes`
(largest first; a hole is a later annotation, of ``_background_``, category 0, when it is
background, as labelme's ``labelme2coco`` writes), outlines around pixel corners so that
pycocotools paints the mask back exactly.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from segapp.core.imageio import write_bytes_atomic
from segapp.core.palette import BACKGROUND_NAMES, IGNORE_NAME
from segapp.core.project import IGNORE_INDEX, Project
from segapp.interop.common import (
    ExportReport,
    InteropError,
    export_pairs,
    load_json,
    need,
    new_folder,
)
from segapp.interop.shapes import check_points, corner_outline, regions
from segapp.interop.sink import ProjectSink


def import_coco(src: Path, sink: ProjectSink, images: Path | None = None) -> None:
    """Import the COCO file ``src`` (or the one ``*.json`` in the folder ``src``)."""
    import pycocotools.mask  # noqa: F401  (fail early, before any file is copied)

    src = _json_file(Path(src))
    data = load_json(src)
    where = str(src)
    records = need(data, "images", list, where)
    annotations = data.get("annotations", []) if isinstance(data, dict) else []
    if not isinstance(annotations, list):
        raise InteropError(f"{where}: 'annotations' must be a list")
    values = _category_values(need(data, "categories", list, where), sink, where)
    by_image: dict[object, list[dict]] = defaultdict(list)
    for i, ann in enumerate(annotations):
        by_image[need(ann, "image_id", (int, str), f"{where}: annotation {i + 1}")].append(ann)
    root = Path(images) if images else src.parent
    listed = set()
    for i, record in enumerate(records):
        try:
            here = f"{where}: image {i + 1}"
            image_id = need(record, "id", (int, str), here)
            name = need(record, "file_name", str, here)
            listed.add(image_id)
            path = _find_image(root, name)
        except InteropError as e:
            sink.report.skipped.append((f"image {i + 1}", str(e).removeprefix(f"{where}: ")))
            continue
        anns = by_image.get(image_id, [])

        def make_mask(shape, anns=anns, record=record, name=name):
            return _paint(anns, record, shape, values, name)

        sink.add(Path(name).stem, path, make_mask, name)
    orphans = [k for k in by_image if k not in listed]
    if orphans:
        sink.report.unpaired.append(f"annotations of {len(orphans)} image ids not in 'images'")


def _json_file(src: Path) -> Path:
    if src.is_file():
        return src
    if src.is_dir():
        found = sorted(src.glob("*.json"))
        if len(found) == 1:
            return found[0]
        if (src / "annotations.json").is_file():
            return src / "annotations.json"
        raise InteropError(f"{src}: give the COCO JSON file ({len(found)} JSON files here)")
    raise InteropError(f"{src}: no such file or folder")


def _category_values(categories: list, sink: ProjectSink, where: str) -> dict[object, int]:
    """Category id -> project value, in the order of the ids."""
    cats = []
    for i, cat in enumerate(categories):
        here = f"{where}: category {i + 1}"
        cats.append((need(cat, "id", int, here), need(cat, "name", str, here), _color(cat)))
    if len({c for c, _, _ in cats}) != len(cats):
        raise InteropError(f"{where}: two categories share an id")
    values, preferred = {}, 1
    for cat_id, name, color in sorted(cats):
        special = name in BACKGROUND_NAMES or name == IGNORE_NAME
        values[cat_id] = sink.class_value(name, None if special else preferred, color)
        preferred += 0 if special else 1
    return values


def _color(category: dict) -> tuple[int, int, int] | None:
    """A category's ``color`` as segapp writes it ([r, g, b], 0-255; not in the COCO
    standard, which other tools ignore); None when absent or not that."""
    color = category.get("color")
    ok = isinstance(color, list) and len(color) == 3
    if ok and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color):
        return (color[0], color[1], color[2])
    return None


def _find_image(root: Path, name: str) -> Path:
    for candidate in (root / name, root / Path(name.replace("\\", "/")).name):
        if candidate.is_file():
            return candidate
    raise InteropError(f"{name}: image not found in {root} (give its folder with --images)")


def _paint(
    anns: list[dict], record: dict, shape: tuple[int, int], values: dict, where: str
) -> np.ndarray:
    h, w = shape
    size = (record.get("height"), record.get("width"))
    if all(isinstance(v, int) for v in size) and size != (h, w):
        raise InteropError(f"{where}: the JSON says {size[1]}x{size[0]} but the image is {w}x{h}")
    mask = np.zeros(shape, np.uint8)
    for ann in anns:
        here = f"{where}: annotation {ann.get('id', '?')}"
        category = need(ann, "category_id", int, here)
        if category not in values:
            raise InteropError(f"{here}: category {category} is not in 'categories'")
        bits = _decode(need(ann, "segmentation", (list, dict), here), h, w, here)
        if bits is not None:
            mask[bits] = values[category]
    return mask


def _decode(seg: list | dict, h: int, w: int, where: str) -> np.ndarray | None:
    """A segmentation (polygons, RLE, uncompressed RLE) as an HxW bool array, by pycocotools."""
    import pycocotools.mask as mask_api

    if isinstance(seg, list):
        polygons = [p for p in seg if isinstance(p, list) and len(p) >= 6]
        if len(polygons) != len(seg) or any(len(p) % 2 for p in polygons):
            raise InteropError(f"{where}: polygons must be flat lists of x, y (3 points or more)")
        if not polygons:
            return None
        try:
            polygons = [[float(v) for v in p] for p in polygons]
        except (TypeError, ValueError) as e:
            raise InteropError(f"{where}: polygons must hold numbers ({e})") from e
        for p in polygons:
            check_points(np.array(p), (h, w), where)
        rle = mask_api.merge(mask_api.frPyObjects(polygons, h, w))
    else:
        counts, size = seg.get("counts"), seg.get("size")
        if size != [h, w]:
            raise InteropError(f"{where}: the RLE size {size} is not the image's [{h}, {w}]")
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != h * w:
                raise InteropError(f"{where}: uncompressed RLE counts must add up to {h}x{w}")
            rle = mask_api.frPyObjects({"size": size, "counts": counts}, h, w)
        elif isinstance(counts, str):
            rle = {"size": size, "counts": counts}
        else:
            raise InteropError(f"{where}: RLE 'counts' must be a string or a list")
    try:
        with warnings.catch_warnings():  # pycocotools 2.0 on NumPy 2: a copy= deprecation
            warnings.simplefilter("ignore", DeprecationWarning)
            bits = mask_api.decode(rle)
        area = int(mask_api.area(rle))
    except (TypeError, ValueError) as e:
        raise InteropError(f"{where}: invalid RLE ({e})") from e
    if bits.shape != (h, w) or bits.max(initial=0) > 1 or int(bits.sum()) != area:
        raise InteropError(f"{where}: invalid RLE (its runs do not cover {h}x{w})")
    return bits.astype(bool)


def export_coco(
    project: Project, dest: Path, polygons: bool = False, proposed: bool = False
) -> ExportReport:
    """``annotations.json`` (RLE, or polygons) and ``images/`` in the new folder ``dest``."""
    names = [c.name for c in project.classes]
    doc: dict = {"info": {"description": "exported by segapp"}, "licenses": [], "images": []}
    anns: list[dict] = []
    used: set[int] = set()
    with new_folder(dest) as out:
        report = ExportReport(Path(dest))
        for _, copied, labels in export_pairs(project, proposed, report, out / "images"):
            image_id = len(doc["images"]) + 1
            h, w = labels.shape
            doc["images"].append(
                {"id": image_id, "file_name": f"images/{copied.name}", "height": h, "width": w}
            )
            for value, seg, area, box in (_polygons if polygons else _rles)(labels):
                anns.append(_annotation(anns, image_id, value, seg, area, box))
                used.add(value)
        cats = [(i, n) for i, n in enumerate(names) if i > 0]
        cats += [(0, "_background_")] if 0 in used else []
        cats += [(IGNORE_INDEX, IGNORE_NAME)] if IGNORE_INDEX in used else []
        colors = {i: list(c.color) for i, c in enumerate(project.classes) if i > 0}
        doc["categories"] = [
            {"id": i, "name": n, "supercategory": ""}
            | ({"color": colors[i]} if i in colors else {})
            for i, n in sorted(cats)
        ]
        doc["annotations"] = anns
        write_bytes_atomic(out / "annotations.json", json.dumps(doc).encode())
    return report


def _rles(labels: np.ndarray):
    """(class, RLE, area, bbox) per class present, background excepted."""
    import pycocotools.mask as mask_api

    h, w = labels.shape
    for value in np.unique(labels).tolist():
        if value == 0:
            continue
        rle = mask_api.encode(np.asfortranarray((labels == value).astype(np.uint8)))
        seg = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
        yield value, seg, int(mask_api.area(rle)), mask_api.toBbox(rle).tolist()


def _polygons(labels: np.ndarray):
    """(class, [polygon], area, bbox) per region, in painting order."""
    for r in regions(labels):
        outline = corner_outline(r)
        (x0, y0), (x1, y1) = outline.min(axis=0), outline.max(axis=0)
        yield r.value, [outline.ravel().tolist()], r.area, [x0, y0, x1 - x0, y1 - y0]


def _annotation(anns: list, image_id: int, value: int, seg, area: int, box: list) -> dict:
    return {
        "id": len(anns) + 1,
        "image_id": image_id,
        "category_id": int(value),
        "segmentation": seg,
        "area": int(area),
        "bbox": [float(v) for v in box],
        "iscrowd": 0,
    }
