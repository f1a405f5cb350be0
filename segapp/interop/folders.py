"""Plain folders: images in one folder, masks in another, paired by file stem.

Import: ``images/`` and ``masks/`` under SRC by default, or any two folders (``Training_Images``
+ ``Ground_Truth``); a mask is ``<image stem><mask suffix>.<ext>`` (Carvana's
``<name>_mask.gif``). All masks together decide what their values mean: only 0 and 255, or
only 0 and 1, is a binary mask (``background`` + ``foreground``); palette masks are palette
indices (palette colours kept); other gray levels are class values (255 = ignore), named by
a ``class_names.txt``/``labels.txt`` in SRC when there is one. Unpaired files are reported.

Export: ``images/`` (copies) and ``masks/`` (8-bit PNG, the values the project stores),
with ``class_names.txt`` when those values are the class indices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segapp.core.imageio import (
    IMAGE_EXTENSIONS,
    SegappError,
    fit_mask,
    is_image_file,
    write_bytes_atomic,
    write_mask,
)
from segapp.core.palette import find_class_names, read_class_names
from segapp.core.project import Project
from segapp.interop.common import (
    ExportReport,
    InteropError,
    export_pairs,
    new_folder,
    read_foreign_mask,
)
from segapp.interop.sink import ProjectSink, ValueMap

MAX_LEVELS = 64  # more distinct values than this is a photo or a JPEG-damaged mask
# 0/255 masks with other values on fewer than this share of their non-zero pixels: binary
STRAY_SHARE = 0.01


def import_folders(
    src: Path,
    sink: ProjectSink,
    images: str | None = None,
    masks: str | None = None,
    mask_suffix: str = "",
    labels: Path | None = None,
) -> None:
    """Import the pairs of ``src/images`` (or ``images``) and ``src/masks`` (or ``masks``)."""
    src = Path(src)
    images_dir, masks_dir = src / (images or "images"), src / (masks or "masks")
    for folder, option in ((images_dir, "--images"), (masks_dir, "--masks")):
        if not folder.is_dir():
            raise InteropError(f"{folder}: folder not found (name it with {option})")
    image_files = {p.stem: p for p in sorted(images_dir.iterdir()) if is_image_file(p)}
    pairs: list[tuple[Path, Path]] = []
    for m in sorted(masks_dir.iterdir()):
        if m.name.startswith(".") or m.suffix.lower() not in (*IMAGE_EXTENSIONS, ".gif"):
            continue
        stem = m.stem.removesuffix(mask_suffix) if m.stem.endswith(mask_suffix) else None
        image = image_files.pop(stem, None) if stem is not None else None
        if image is None:
            sink.report.unpaired.append(f"{m.name} (no image)")
        else:
            pairs.append((image, m))
    sink.report.unpaired += [f"{p.name} (no mask)" for p in image_files.values()]
    if not pairs:
        raise InteropError(
            f"{src}: no image in {images_dir.name}/ has a mask in {masks_dir.name}/"
            + (f" named <stem>{mask_suffix}.*" if mask_suffix else " of the same stem")
        )
    pairs, values = _survey(pairs, sink, labels or find_class_names(src))
    for image, mask_path in pairs:

        def make_mask(shape, path=mask_path):
            return values(fit_mask(read_foreign_mask(path)[0], shape, path))

        sink.add(image.stem, image, make_mask, mask_path.name)


def _survey(
    pairs: list[tuple[Path, Path]], sink: ProjectSink, labels: Path | None
) -> tuple[list[tuple[Path, Path]], ValueMap]:
    """Read every mask once: the readable pairs and what the mask values mean."""
    names = read_class_names(labels) if labels else None
    counts = np.zeros(256, np.int64)  # pixels of each value over all masks
    palette = None
    readable = []
    for image, mask_path in pairs:
        try:
            mask, pal = read_foreign_mask(mask_path)
        except SegappError as e:
            sink.report.skipped.append((mask_path.name, str(e).removeprefix(f"{mask_path}: ")))
            continue
        palette = palette or pal
        counts += np.bincount(mask.ravel(), minlength=256)
        readable.append((image, mask_path))
    seen = set(np.flatnonzero(counts).tolist())
    if len(seen) > MAX_LEVELS:
        raise InteropError(
            f"the masks hold {len(seen)} distinct values: not label masks "
            "(saved as JPEG? masks must be lossless: PNG, TIFF, BMP or GIF)"
        )
    stray = sorted(seen - {0, 255})
    n_stray = int(counts[stray].sum())
    if 255 in seen and stray and n_stray < STRAY_SHARE * counts[1:].sum():
        # black-and-white masks with a few other values (a drawing program's smoothed
        # edges): not classes, and 255 is not "ignore" here but the foreground
        shown = ", ".join(map(str, stray[:6])) + (", ..." if len(stray) > 6 else "")
        sink.report.notes.append(
            f"the masks are black and white but for {n_stray} pixels of "
            f"{len(stray)} other values ({shown}): taken as foreground from 128 up, else "
            "background"
        )
        binary = _binary(sink, names, palette, 255)
        binary.lut |= {v: binary.lut[255 if v >= 128 else 0] for v in stray}
        return readable, binary
    if seen <= {0, 255} or seen <= {0, 1}:  # binary, whatever the file type
        return readable, _binary(sink, names, palette, max(seen - {0}, default=255))
    values = ValueMap(sink, names, palette)
    for v in sorted(seen):
        values.value_of(v)  # classes in value order
    return readable, values


def _binary(sink: ProjectSink, names: list[str] | None, palette: list | None, fg: int) -> ValueMap:
    """Background 0 and one foreground value ``fg``."""
    name = (names or [])[1:2] or ["foreground"]
    color = tuple(palette[fg]) if palette and fg < len(palette) else None
    binary = ValueMap(sink, names)
    binary.lut = {0: 0, fg: sink.class_value(name[0], preferred=1, color=color)}
    return binary


def export_folders(project: Project, dest: Path, proposed: bool = False) -> ExportReport:
    """``images/`` and ``masks/`` (the project's stored values) in the new folder ``dest``."""
    with new_folder(dest) as out:
        report = ExportReport(Path(dest))
        for entry, _, labels in export_pairs(project, proposed, report, out / "images"):
            write_mask(out / "masks" / f"{entry.stem}.png", project.mask_from_labels(labels))
        if [c.value for c in project.classes] == list(range(project.num_classes)):
            names = "".join(f"{c.name}\n" for c in project.classes)
            write_bytes_atomic(out / "class_names.txt", names.encode("utf-8"))
        else:
            stored = ", ".join(f"{c.name} = {c.value}" for c in project.classes)
            report.notes.append(f"mask values: {stored}")
    return report
