"""``segapp import FORMAT SRC PROJECT`` and ``segapp export FORMAT PROJECT DEST``.

A summary goes to stdout; each skipped file is one ``segapp: skipped ...`` line on stderr
and makes the exit code 2 (the rest is still imported or exported), like ``predict``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segapp.interop import EXPORT_FORMATS, IMPORT_FORMATS

EXPORT_OPTIONS = {
    "polygons": ("coco",),
    "proposed": tuple(f for f in EXPORT_FORMATS if f != "onnx"),
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``import`` and ``export`` on the ``segapp`` command's subparsers."""
    i = sub.add_parser(
        "import",
        help="make or extend a project from labelme, COCO, VOC, YOLO or two plain folders",
    )
    i.add_argument("format", choices=IMPORT_FORMATS)
    i.add_argument(
        "src",
        metavar="SRC",
        help="labelme: folder of JSON files; coco: the JSON file; voc: the VOC folder; "
        "yolo: folder with images/ and labels/; folders: the folder holding both folders",
    )
    i.add_argument("project", metavar="PROJECT", help="project folder (created when missing)")
    i.add_argument("--labels", help="labelme, folders: class names, one per line (labels.txt)")
    i.add_argument(
        "--images",
        help="coco: the folder file_name starts from (default: the JSON's); "
        "folders: the images folder in SRC (default images)",
    )
    i.add_argument("--masks", help="folders: the masks folder in SRC (default masks)")
    i.add_argument(
        "--mask-suffix", default="", help="folders: mask stem = image stem + this (e.g. _mask)"
    )
    i.add_argument("--link", action="store_true", help="link the images instead of copying")
    i.add_argument(
        "--overwrite",
        action="store_true",
        help="replace corrected masks that differ from the import (default: keep them)",
    )
    i.set_defaults(handler=cmd_import)

    e = sub.add_parser(
        "export", help="a project as COCO, VOC, labelme, YOLO or folders; a model as ONNX"
    )
    e.add_argument("format", choices=EXPORT_FORMATS)
    e.add_argument("src", metavar="PROJECT", help="the project (onnx: a checkpoint folder)")
    e.add_argument("dest", metavar="DEST", help="a new folder (onnx: a new .onnx file)")
    e.add_argument("--polygons", action="store_true", help="coco: polygons instead of RLE")
    e.add_argument(
        "--proposed", action="store_true", help="also export proposals nobody corrected yet"
    )
    e.set_defaults(handler=cmd_export)


def cmd_import(args: argparse.Namespace) -> int:
    from segapp.interop.run import ImportOptions, run_import

    options = ImportOptions(
        labels=Path(args.labels).expanduser() if args.labels else None,
        images=args.images,
        masks=args.masks,
        mask_suffix=args.mask_suffix,
        link=args.link,
        overwrite=args.overwrite,
    )
    report = run_import(args.format, args.src, args.project, options)
    print("\n".join(report.lines()))
    return _report_skipped(report.skipped)


def cmd_export(args: argparse.Namespace) -> int:
    from segapp.interop.run import check_options, run_export

    check_options(args.format, args, EXPORT_OPTIONS)
    if args.format == "onnx":
        from segapp.interop.onnx import export_onnx

        meta = export_onnx(args.src, args.dest)
        clicks = int(meta["click_channels"])
        channels = int(meta["in_channels"]) + clicks
        after = f" (the image's, then {clicks} click channels)" if clicks else ""
        print(
            f"{Path(args.dest).expanduser()}: ONNX model, input x (N, {channels}, H, W){after}, "
            f"output logits (N, {meta['output_channels']}, H, W), {meta['activation']}; "
            "same logits as PyTorch within "
            f"{meta['max_difference']}"
        )
        return 0
    report = run_export(args.format, args.src, args.dest, args.polygons, args.proposed)
    print("\n".join(report.lines()))
    return _report_skipped(report.skipped)


def _report_skipped(skipped: list[tuple[str, str]]) -> int:
    for name, reason in skipped:
        print(f"segapp: skipped {name}: {reason}", file=sys.stderr)
    if skipped:
        print(f"segapp: {len(skipped)} files skipped (the rest is done)", file=sys.stderr)
        return 2
    return 0
