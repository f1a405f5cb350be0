"""YOLO segmentation (Ultralytics): ``images/``, ``labels/<stem>.txt``, ``data.yaml``.

A label line is ``class x1 y1 x2 y2 ...``: a polygon in coordinates normalised by the image
width and height (pixel centres, as Ultralytics' own mask converter writes them); class k
is segapp's class k + 1 (YOLO has no background class).

Export: the regions of :mod:`segapp.interop.shapes` of every class but background, so a
hole of background inside an object is filled (YOLO cannot hold one) and ignore pixels
are left out. Import: polygons painted in line order (later lines win); box lines
(``class cx cy w h``, detection labels) have no outline and are counted, not painted; an
image without a label file has nothing on it (all background), as YOLO reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segapp.core.imageio import IMAGE_EXTENSIONS, write_bytes_atomic
from segapp.core.project import IGNORE_INDEX, Project
from segapp.interop.common import (
    ExportReport,
    InteropError,
    export_pairs,
    new_folder,
)
from segapp.interop.shapes import check_points, paint, regions
from segapp.interop.sink import ProjectSink


def import_yolo(src: Path, sink: ProjectSink) -> None:
    """Import the YOLO folder ``src`` (``images/``, ``labels/``, ``data.yaml``)."""
    src = Path(src)
    images_dir, labels_dir = src / "images", src / "labels"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise InteropError(f"{src}: not a YOLO folder (images/ and labels/)")
    names = _names(src)
    values = [sink.class_value(n, preferred=k + 1) for k, n in enumerate(names)]
    images = sorted(
        p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
    for image in images:
        label_file = labels_dir / image.relative_to(images_dir).with_suffix(".txt")
        if not label_file.exists():
            sink.report.unpaired.append(f"{image.name} (no label file: all background)")

        def make_mask(shape, path=label_file):
            return _paint(path, shape, values, sink, named=bool(names))

        sink.add(image.stem, image, make_mask, str(image.relative_to(src)))


def _names(src: Path) -> list[str]:
    """Class names from ``data.yaml`` (a list, or a mapping of index to name)."""
    import yaml

    path = next((src / n for n in ("data.yaml", "dataset.yaml") if (src / n).is_file()), None)
    if path is None:
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # data only, no objects
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise InteropError(f"{path}: unreadable ({e})") from e
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InteropError(f"{path}: 'names' must be a list of class names")
    return names


def _paint(
    path: Path, shape: tuple[int, int], values: list[int], sink: ProjectSink, named: bool = False
) -> np.ndarray:
    """The label file's mask; ``named``: data.yaml names the classes, so a class id past
    them is an error (COCO's unknown category likewise), not a new "class k"."""
    h, w = shape
    polygons = []
    if not path.exists():
        return paint(shape, [])
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InteropError(f"{path}: unreadable ({e})") from e
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        try:
            k, coords = int(fields[0]), np.array(fields[1:], np.float64)
        except ValueError as e:
            raise InteropError(f"{path}: line {n}: not a class and numbers") from e
        if len(coords) == 4:
            sink.report.ignored_shapes["box (detection label)"] += 1
            continue
        if len(coords) < 6 or len(coords) % 2:
            raise InteropError(f"{path}: line {n}: a polygon needs 3 or more x y pairs")
        check_points(coords.reshape(-1, 2) * (w, h), shape, f"{path}: line {n}")
        if k < 0:
            raise InteropError(f"{path}: line {n}: negative class {k}")
        if named and k >= len(values):
            raise InteropError(
                f"{path}: line {n}: class {k}, but data.yaml names {len(values)} classes "
                f"(0 to {len(values) - 1})"
            )
        while k >= len(values):
            values.append(sink.class_value(f"class {len(values)}", preferred=len(values) + 1))
        polygons.append((values[k], coords.reshape(-1, 2) * (w, h)))
    return paint(shape, polygons)


def export_yolo(project: Project, dest: Path, proposed: bool = False) -> ExportReport:
    """A YOLO segmentation folder in the new folder ``dest``."""
    names = [c.name for c in project.classes[1:]]
    with new_folder(dest) as out:
        report = ExportReport(Path(dest))
        for entry, _, labels in export_pairs(project, proposed, report, out / "images"):
            h, w = labels.shape
            lines = [
                f"{r.value - 1} "
                + " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in r.outline.tolist())
                for r in regions(labels)
                if r.value not in (0, IGNORE_INDEX)
            ]
            text = "".join(f"{line}\n" for line in lines)
            write_bytes_atomic(out / "labels" / f"{entry.stem}.txt", text.encode())
        yaml_names = "".join(f"  {k}: {json.dumps(n)}\n" for k, n in enumerate(names))
        data = f"path: .\ntrain: images\nval: images\nnames:\n{yaml_names}"
        write_bytes_atomic(out / "data.yaml", data.encode("utf-8"))
        report.notes.append("YOLO has no background class: holes inside objects are filled")
    return report
