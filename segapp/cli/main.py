"""``segapp`` entry point: the window by default; ``train|predict|evaluate|models|demo`` and
``import|export`` (segapp/cli/interop.py) headless.

Errors a person can fix are printed as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Callable

from segapp.core.imageio import SegappError
from segapp.ml import recipe  # no torch: the window's defaults and the options' choices

COMMANDS = (
    "train",
    "train-standby",
    "predict",
    "evaluate",
    "models",
    "demo",
    "open",
    "import",
    "export",
)
# predict / evaluate: a checkpoint's proposals as it refines them (segapp.ml.proposal_refine)
REFINE_OPTION = {
    "choices": ("model", *recipe.REFINE_METHODS),
    "default": "model",
    "help": "refine the proposals as the model was trained to (default), by a closer look "
    "and GrabCut where the model is in doubt, or not at all",
}


def _probability(text: str) -> float:
    """A --threshold: a probability strictly between 0 and 1 (0 or 1 makes every pixel
    foreground or none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:  # NaN too
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1 (0.5 by default)")
    return value


def _at_least(low: int, unit: str = "") -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is less than {low}{unit}")
        return value

    return parse


def _add_train_parser(sub) -> None:
    """``segapp train``: its defaults are the recipe's (segapp/ml/recipe.py)."""
    from segapp.ml.registry import DEFAULT_PRESET

    t = sub.add_parser("train", help="train or fine-tune a model on images/ + masks/")
    t.add_argument("data", help="folder with images/ and masks/ (paired by stem), or a project")
    t.add_argument(
        "--model",
        default=DEFAULT_PRESET,
        help=f"preset name or checkpoint folder to start from (default {DEFAULT_PRESET})",
    )
    t.add_argument("--out", required=True, help="checkpoint folder to write")
    t.add_argument(
        "--epochs",
        type=int,
        help="epochs (default: planned from the number of images, see --steps)",
    )
    t.add_argument(
        "--steps",
        type=int,
        help=f"optimizer steps (default: {recipe.SAMPLES_PER_IMAGE} views of each image, "
        f"{recipe.MIN_SAMPLES}..{recipe.MAX_SAMPLES} in all)",
    )
    t.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="stop planning epochs that would end later (default: 120 s up to 40 training "
        "images, +5 s per image beyond, at most 900; 0 = no limit)",
    )
    t.add_argument(
        "--size",
        type=int,
        default=recipe.DEFAULT_SIZE,
        help=f"training image size in px (default {recipe.DEFAULT_SIZE})",
    )
    t.add_argument(
        "--resize-mode",
        choices=recipe.RESIZE_MODES,
        default="auto",
        help="resize whole images to --size (photos of whole objects), or train on --size "
        "crops at full resolution and propose tile by tile (large images); auto: crop when "
        f"the images are over {recipe.CROP_FROM_SHRINK:g}x --size",
    )
    t.add_argument(
        "--keep-aspect",
        action=argparse.BooleanOptionalAction,
        default=recipe.KEEP_ASPECT,
        help="resize mode: letterbox whole images (the longer side at --size, the rest of the "
        "square mirrored) instead of squashing them to --size x --size",
    )
    t.add_argument(
        "--batch-size", type=int, help="default: 2 on a CPU; half the images, 2..8, on a GPU"
    )
    t.add_argument("--lr", type=float, default=recipe.DEFAULT_LR)
    t.add_argument(
        "--encoder-lr-scale",
        type=float,
        default=recipe.ENCODER_LR_SCALE,
        help="a pretrained encoder learns at this fraction of --lr",
    )
    t.add_argument(
        "--no-freeze-bn",
        action="store_true",
        help="update a pretrained encoder's BatchNorm statistics (frozen by default)",
    )
    t.add_argument(
        "--loss",
        default="bce-dice",
        help=(
            "bce, dice, bce-dice, jaccard, focal, weighted-ce (U-Net border weights) or "
            "bce-lovasz (each image's IoU)"
        ),
    )
    t.add_argument(
        "--augment", choices=("none", "light", "medium", "strong"), default=recipe.DEFAULT_AUGMENT
    )
    t.add_argument(
        "--copy-paste",
        type=float,
        default=recipe.COPY_PASTE,
        metavar="P",
        help="share of training views that get another image's object pasted in "
        "(objects on a background, resize mode; 0 = off)",
    )
    t.add_argument(
        "--distractors",
        type=float,
        default=recipe.DISTRACTORS,
        metavar="P",
        help="share of training views that get an object cut into shuffled tiles pasted in "
        "as background, so colour and texture alone are no cue (as --copy-paste; falls as "
        "10/N beyond 10 training images; 0 = off)",
    )
    t.add_argument(
        "--object-blur",
        type=float,
        default=recipe.OBJECT_BLUR,
        metavar="P",
        help="share of training views whose labelled objects are blurred, so that sharpness "
        "against a blurred backdrop is no cue (as --copy-paste; 0 = off)",
    )
    t.add_argument(
        "--orientation",
        choices=recipe.ORIENTATIONS,
        default=recipe.DEFAULT_ORIENTATION,
        help="upright: images have an up (photos), training views are mirrored left-right "
        "only; any: all 8 mirrored and turned views (microscopy, aerial); auto: upright when "
        "the masks' objects are clearly more symmetric left-right than up-down",
    )
    t.add_argument(
        "--hue",
        choices=recipe.HUE_SETTINGS,
        default=recipe.DEFAULT_HUE,
        help="turn: a fifth of the training views have their hue turned at random, so that "
        "a colour the few corrected objects share is no cue; keep: colours as they are; "
        "auto: turn in a run that continues from a trained version (not from a preset's new "
        "network), unless colour alone tells the classes apart in the corrected images",
    )
    t.add_argument(
        "--refine",
        choices=recipe.REFINE_SETTINGS,
        default=recipe.DEFAULT_REFINE,
        help="the model's proposals refined: a closer look at each object it found (whole "
        "images), then GrabCut where it is in doubt (colour and edges settle the band "
        "between what it is sure of); auto: for a binary model of colour "
        "photos of objects on a background; kept in the checkpoint",
    )
    t.add_argument(
        "--val-fraction",
        type=float,
        default=recipe.VAL_FRACTION,
        help=f"held out to choose the best epoch, once that is >= {recipe.MIN_VAL_IMAGES} "
        "images (fewer: all images train and the last epoch is kept)",
    )
    t.add_argument(
        "--unlabeled",
        type=int,
        default=None,
        metavar="N",
        help="also learn from up to N images without masks (confident pseudo-labels; 0 = off; "
        + (
            f"default: {recipe.UNLABELED_IMAGES} when continuing from a trained version, 0 from "
            "a preset)"
            if recipe.UNLABELED_IMAGES
            else "default: off)"
        ),
    )
    t.add_argument(
        "--clicks",
        type=float,
        default=recipe.CLICK_SHARE,
        metavar="P",
        help="share of training views given a previous mask and simulated clicks, so that the "
        "network itself follows the Click tool (binary, padded networks; default 0: at the "
        "CPU's round budgets it learnt to ignore clicks, and GrabCut guided by the model "
        "refines instead)",
    )
    t.add_argument("--patience", type=int, default=10, help="early stop after N epochs w/o gain")
    t.add_argument("--repeats", type=int, help="passes over the images per epoch")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--workers",
        type=int,
        help="data-loading processes (default: none on a CPU; on a GPU up to 4, one core "
        "left to the training process, as many as /dev/shm holds)",
    )
    t.add_argument(
        "--no-amp",
        action="store_true",
        help="train in float32: no mixed precision on CUDA, no bfloat16 on the CPU",
    )
    t.add_argument("--resume", action="store_true", help="continue from OUT/last")
    t.add_argument("--encoder-weights", help="'imagenet', 'none' or a local weights file")
    t.add_argument("--images", help="file listing the image stems to train on (one per line)")
    t.add_argument("--val-images", help="file listing a fixed validation subset (stems)")
    t.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard logs to DIR")
    t.add_argument("--json", action="store_true", help="one JSON object per line, no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segapp",
        description="Build segmentation data sets with a U-Net in the loop. "
        "Without a command, opens the window (on PATH if given).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_train_parser(sub)

    p = sub.add_parser("predict", help="write a mask PNG for each image")
    p.add_argument("model", help="checkpoint folder (or a preset, untrained)")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="folder for the masks")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace masks already in --out (without it, predict refuses to: a project's "
        "corrected masks or a data set's ground truth are never lost to a proposal)",
    )
    p.add_argument("--threshold", type=_probability, default=0.5)
    p.add_argument("--refine", **REFINE_OPTION)
    p.add_argument(
        "--tile", type=_at_least(64, " px"), default=1024, help="tile size for large images"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")

    e = sub.add_parser("evaluate", help="score one or more models on images/ + masks/")
    e.add_argument("models", nargs="+", help="checkpoint folders")
    e.add_argument("--data", required=True, help="folder with images/ and masks/")
    e.add_argument(
        "--split",
        choices=("all", "val"),
        default="all",
        help="'val': only the images each model did not train on",
    )
    e.add_argument("--threshold", type=_probability, default=0.5)
    e.add_argument("--refine", **REFINE_OPTION)
    e.add_argument("--device", default="auto")
    e.add_argument("--sheet", help="draw a comparison sheet PNG of a few samples")
    e.add_argument("--samples", type=_at_least(1), default=4, help="rows in the sheet")
    e.add_argument("--json", action="store_true")
    e.add_argument(
        "--clicks",
        action="store_true",
        help="count the clicks a mask costs: the simulated annotator clicks at the largest "
        "error and the model refines; reports NoC@85/90 and the brush for comparison",
    )
    e.add_argument("--max-clicks", type=int, help="with --clicks: clicks per image (default 20)")
    e.add_argument(
        "--from",
        dest="start",
        choices=("proposal", "empty"),
        help="with --clicks: start from the model's proposal (default) or an empty mask",
    )

    s = sub.add_parser(
        "train-standby",
        help="for the window: import ahead, then run the `train` whose arguments come as a "
        "JSON list on stdin's first line",
    )
    s.set_defaults(handler=_train_standby)
    sub.add_parser("models", help="list the model presets")
    d = sub.add_parser("demo", help="open the built-in demo (offline)")
    d.add_argument(
        "--headless",
        action="store_true",
        help="no window: propose masks on the demo images and print scores",
    )
    o = sub.add_parser("open", help="open the window on PATH (also a folder named like a command)")
    o.add_argument("path", help="a folder of images, images/ + masks/, or a project")
    from segapp.cli import interop

    interop.add_parsers(sub)
    return parser


def _train_standby(_args) -> int:
    from segapp.cli.standby import wait_for_round

    argv = wait_for_round()
    return 0 if argv is None else main(["train", *argv])  # the budget counts from here


def main(argv: list[str] | None = None) -> int:
    started_at = time.perf_counter()  # a round's time budget counts from here (torch's import too)
    argv = list(sys.argv[1:] if argv is None else argv)
    if _names_no_command(argv):  # segapp [-v] [PATH]
        return _open_window(argv)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 still prints
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.started_at = started_at
    handler = _BarAwareHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    if args.command is None:
        return _open_window(["-v"] * args.verbose)
    try:
        from segapp.cli import commands

        handler = getattr(args, "handler", None) or getattr(commands, f"cmd_{args.command}")
        return handler(args)
    except SegappError as e:
        _close_progress_bars()  # the error on a line of its own, not glued to a bar's text
        print(f"segapp: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("segapp: interrupted", file=sys.stderr)
        return 130


def _close_progress_bars() -> None:
    """Close the progress bars an error left open (each ends its line as it closes)."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", None) or []):
        with contextlib.suppress(Exception):
            bar.close()


class _BarAwareHandler(logging.StreamHandler):
    """Log lines on a line of their own while a progress bar is drawn (``tqdm.write``
    lifts the bar, writes the line, draws the bar again), not glued to the bar's text."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - as logging.StreamHandler does
            self.handleError(record)


def _names_no_command(argv: list[str]) -> bool:
    """True when the first word after ``-v`` is neither a command nor another option."""
    words = [a for a in argv if a not in ("-v", "--verbose")]
    return not words or (words[0] not in COMMANDS and not words[0].startswith("-"))


def _open_window(argv: list[str]) -> int:
    from segapp.cli.commands import open_window

    return open_window(argv)


if __name__ == "__main__":
    sys.exit(main())
