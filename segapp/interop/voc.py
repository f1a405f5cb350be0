"""PASCAL VOC: ``JPEGImages/`` and palette PNG masks in ``SegmentationClass/`` (or labelme's
``SegmentationClassPNG/``), with ``class_names.txt``/``labels.txt`` when present.

Import: palette index = class value (255 = ignore), palette colour = class colour, line i
of the class-name file = the name of value i (``class N`` without one). Masks without an
image, and images without a mask (VOC's detection-only images), are counted, not imported.

Export: images copied into ``JPEGImages/`` (bytes unchanged, whatever their type), palette
PNGs of class indices (255 = ignore) in ``SegmentationClass/``, ``class_names.txt``, and
``ImageSets/Segmentation/`` lists.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from segapp.core.imageio import SegappError, fit_mask, is_image_file, write_bytes_atomic
from segapp.core.palette import find_class_names, read_class_names, voc_colormap
from segapp.core.project import IGNORE_INDEX, Project
from segapp.interop.common import (
    ExportReport,
    InteropError,
    export_pairs,
    new_folder,
    read_foreign_mask,
)
from segapp.interop.sink import ProjectSink, ValueMap

MASK_FOLDERS = ("SegmentationClassPNG", "SegmentationClass")
IGNORE_COLOR = (224, 224, 192)  # VOC's colour for "void"


def import_voc(src: Path, sink: ProjectSink) -> None:
    """Import the VOC-style folder ``src``."""
    src = Path(src)
    images_dir = src / "JPEGImages"
    masks_dir = next((src / m for m in MASK_FOLDERS if _has_png(src / m)), None)
    if not images_dir.is_dir() or masks_dir is None:
        raise InteropError(
            f"{src}: not a VOC folder (JPEGImages/ and SegmentationClass/ or "
            "SegmentationClassPNG/ with PNG masks)"
        )
    names_file = find_class_names(src)
    names = read_class_names(names_file) if names_file else None
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if is_image_file(p)}
    masks = sorted(p for p in masks_dir.iterdir() if p.suffix.lower() == ".png")
    palette = None
    if masks:
        with contextlib.suppress(SegappError):  # a bad first mask is reported when imported
            palette = read_foreign_mask(masks[0])[1]
    values = ValueMap(sink, names, palette)
    if names:
        for v in range(len(names)):
            values.value_of(v)  # the classes in the file's order
    for mask_path in masks:
        image = images.pop(mask_path.stem, None)
        if image is None:
            sink.report.unpaired.append(f"{mask_path.name} (no image)")
            continue

        def make_mask(shape, path=mask_path):
            return values(fit_mask(read_foreign_mask(path)[0], shape, path))

        sink.add(mask_path.stem, image, make_mask, mask_path.name)
    if images:
        sink.report.unpaired.append(f"{len(images)} images without a mask in {masks_dir.name}/")


def _has_png(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() == ".png" for p in folder.iterdir())


def write_palette_png(path: Path, indices: np.ndarray, palette: list[tuple[int, int, int]]) -> None:
    """Save HxW uint8 indices as a palette PNG (atomically)."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(indices, np.uint8), mode="L")
    pil.putpalette([c for rgb in palette for c in rgb])
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())


def export_voc(project: Project, dest: Path, proposed: bool = False) -> ExportReport:
    """A VOC folder (palette PNG masks of class indices) in the new folder ``dest``."""
    palette = voc_colormap()
    for i, c in enumerate(project.classes):
        palette[i] = tuple(c.color)
    palette[IGNORE_INDEX] = IGNORE_COLOR
    with new_folder(dest) as out:
        report = ExportReport(Path(dest))
        stems = []
        for entry, _, labels in export_pairs(project, proposed, report, out / "JPEGImages"):
            write_palette_png(out / "SegmentationClass" / f"{entry.stem}.png", labels, palette)
            stems.append(entry.stem)
        names = "\n".join(c.name for c in project.classes) + "\n"
        write_bytes_atomic(out / "class_names.txt", names.encode("utf-8"))
        sets = out / "ImageSets" / "Segmentation"
        val = [s for s in stems if s in set(project.val_stems)]
        lists = {"trainval": stems, "train": [s for s in stems if s not in val], "val": val}
        for name, items in lists.items():
            write_bytes_atomic(sets / f"{name}.txt", "".join(f"{s}\n" for s in items).encode())
    return report
