"""Class names and colours that other tools keep beside their masks.

- ``class_names.txt`` / ``labels.txt``: one class name per line, line i = pixel value i; a
  first line ``__ignore__`` (labelme's ``labels.txt``) names the ignore value 255 and is
  skipped, so ``_background_`` on the next line is value 0.
- Palette PNG masks (VOC, labelme's export): palette index = class value, palette colour =
  class colour.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from segapp.core.imageio import (
    SegappError,
    gray_coded,
    is_image_file,
    is_palette_png,
    read_palette_png,
)

IGNORE_NAME = "__ignore__"
BACKGROUND_NAMES = ("_background_", "background", "__background__")
CLASS_NAME_FILES = ("class_names.txt", "labels.txt")


def voc_colormap(n: int = 256) -> list[tuple[int, int, int]]:
    """The PASCAL VOC colour map (labelme and most tools show classes in these colours)."""
    colors = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colors.append((r, g, b))
    return colors


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Names by pixel value from a ``class_names.txt``/``labels.txt`` (``__ignore__`` skipped)."""
    path = Path(path)
    try:
        lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise SegappError(f"{path}: cannot read the class names ({e})") from e
    names = [s for s in lines if s]
    if names and names[0] == IGNORE_NAME:
        names = names[1:]
    if not names:
        raise SegappError(f"{path}: no class names in the file")
    if len(names) > 255:
        raise SegappError(f"{path}: {len(names)} classes; masks hold at most 255 (0..254)")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SegappError(f"{path}: the class name {dup!r} appears twice")
    return names


def find_class_names(*folders: Path) -> Path | None:
    """The first ``class_names.txt``/``labels.txt`` in ``folders``, if any."""
    for folder in folders:
        for name in CLASS_NAME_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def display_name(name: str, value: int) -> str:
    """labelme's ``_background_`` reads as ``background`` in segapp."""
    return "background" if value == 0 and name in BACKGROUND_NAMES else name


def palette_classes(
    root: Path, masks_dir: Path
) -> list[tuple[str, tuple[int, int, int], int]] | None:
    """(name, colour, value) per class when ``masks_dir`` holds palette PNG masks, else None.

    Names come from a class-name file in ``root`` (one class per line);
    without one, every value used by a mask (255 = ignore excepted) up to the largest is a
    class named ``class N``.
    """
    if not masks_dir.is_dir():
        return None
    masks = sorted(p for p in masks_dir.iterdir() if is_image_file(p))
    if not masks or not is_palette_png(masks[0]):
        return None
    names_file = find_class_names(root, masks_dir.parent)
    names = read_class_names(names_file) if names_file is not None else None
    try:
        first, palette = read_palette_png(masks[0])
        if gray_coded(first, palette) is not None:
            return None  # a gray mask stored with a palette: its gray levels are the values
        if names is None:
            used = 0
            for p in masks:
                if is_palette_png(p):
                    values = np.unique(read_palette_png(p)[0])
                    values = values[values != 255]
                    used = max(used, int(values.max()) if values.size else 0)
            names = ["background"] + [f"class {v}" for v in range(1, used + 1)]
    except SegappError:
        return None  # the masks say what is wrong when they are read
    palette = palette + voc_colormap()[len(palette) :]
    return [(display_name(n, v), tuple(palette[v]), v) for v, n in enumerate(names)]
