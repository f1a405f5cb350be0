"""One code path for imports and exports: ``segapp import|export`` and the window's
File > Import… / Export… both call :func:`run_import` and :func:`run_export`.

``progress(n)`` (optional, :mod:`segapp.interop.progress`) is called after each image with
the number done so far, from the thread that runs the work; raising ``Cancelled`` there
stops it: an import keeps and saves what it imported so far (every pair is whole), an export
leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segapp.core.imageio import SegappError
from segapp.interop.common import ExportReport, ImportReport
from segapp.interop.progress import Cancelled, Progress, reporting

# option -> the formats it applies to (anything else is refused, not silently ignored)
IMPORT_OPTIONS = {
    "labels": ("labelme", "folders"),
    "images": ("coco", "folders"),
    "masks": ("folders",),
    "mask_suffix": ("folders",),
}
PROJECT_EXPORTS = ("coco", "voc", "labelme", "yolo", "folders")


@dataclass
class ImportOptions:
    """What ``segapp import`` takes besides FORMAT SRC PROJECT."""

    labels: Path | None = None  # labelme, folders: labels.txt
    images: str | None = None  # coco: where file_name starts; folders: the images folder
    masks: str | None = None  # folders: the masks folder
    mask_suffix: str = ""  # folders
    link: bool = False
    overwrite: bool = False


def check_options(fmt: str, options: object, allowed: dict[str, tuple[str, ...]]) -> None:
    """SegappError for an option given to a format it does not apply to."""
    for option, formats in allowed.items():
        if getattr(options, option) and fmt not in formats:
            flag = "--" + option.replace("_", "-")
            raise SegappError(f"{flag} applies to {', '.join(formats)} only")


def run_import(
    fmt: str,
    src: str | Path,
    project: str | Path,
    options: ImportOptions | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``src`` (format ``fmt``) into the project folder ``project`` (made when new)."""
    from segapp.interop.common import InteropError
    from segapp.interop.sink import ProjectSink

    options = options or ImportOptions()
    check_options(fmt, options, IMPORT_OPTIONS)
    src = Path(src).expanduser()
    if not src.exists():
        raise InteropError(f"{src}: no such file or folder")
    if options.labels is not None and not Path(options.labels).is_file():
        raise InteropError(f"{options.labels}: no such file (--labels)")
    sink = ProjectSink(project, link=options.link, overwrite=options.overwrite)
    try:
        with reporting(progress):
            _dispatch_import(fmt, src, sink, options)
    except Cancelled:
        sink.report.cancelled = True
    except BaseException:
        sink.discard_if_empty()
        raise
    return sink.finish()


def _dispatch_import(fmt: str, src: Path, sink, options: ImportOptions) -> None:
    labels = Path(options.labels).expanduser() if options.labels else None
    if fmt == "labelme":
        from segapp.interop.labelme import import_labelme

        import_labelme(src, sink, labels)
    elif fmt == "coco":
        from segapp.interop.coco import import_coco

        import_coco(src, sink, Path(options.images).expanduser() if options.images else None)
    elif fmt == "voc":
        from segapp.interop.voc import import_voc

        import_voc(src, sink)
    elif fmt == "yolo":
        from segapp.interop.yolo import import_yolo

        import_yolo(src, sink)
    elif fmt == "folders":
        from segapp.interop.folders import import_folders

        import_folders(src, sink, options.images, options.masks, options.mask_suffix, labels)
    else:
        raise SegappError(f"unknown import format {fmt!r}")


def run_export(
    fmt: str,
    project: str | Path,
    dest: str | Path,
    polygons: bool = False,
    proposed: bool = False,
    progress: Progress | None = None,
) -> ExportReport:
    """Export the project's corrected masks (and proposals with ``proposed``) to ``dest``."""
    from segapp.core.project import Project
    from segapp.interop import coco, folders, labelme, voc, yolo
    from segapp.interop.common import exported_entries

    if fmt not in PROJECT_EXPORTS:
        raise SegappError(f"unknown export format {fmt!r}")
    if polygons and fmt != "coco":
        raise SegappError("--polygons applies to coco only")
    opened = Project.open(project)
    if not exported_entries(opened, proposed):
        raise SegappError(
            f"{opened.root}: no corrected masks to export"
            + ("" if proposed else " (--proposed adds the model's proposals)")
        )
    with reporting(progress):
        if fmt == "coco":
            return coco.export_coco(opened, Path(dest), polygons, proposed)
        module = {"voc": voc, "labelme": labelme, "yolo": yolo, "folders": folders}[fmt]
        return getattr(module, f"export_{fmt}")(opened, Path(dest), proposed)
