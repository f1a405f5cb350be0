"""Image sizes from file headers, nothing decoded: cheap enough for the GUI thread."""

from __future__ import annotations

import os
from collections.abc import Iterable


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(height, width) from the header; None when the file cannot be read as an image."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def image_sizes(paths: Iterable[str | os.PathLike], limit: int = 64) -> list[tuple[int, int]]:
    """(height, width) of up to ``limit`` readable images among ``paths``."""
    sizes = []
    for path in paths:
        size = image_size(path)
        if size is not None:
            sizes.append(size)
            if len(sizes) >= limit:
                break
    return sizes
