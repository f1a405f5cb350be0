"""How thick the things a mask separates are: what resizing a whole image would keep.

A 12-megapixel photo of a person and a 4096² electron micrograph are both large images, but
the person stays a person at 320 px, where the micrograph's membranes, a few pixels thick,
vanish. ``structure_depth`` measures a mask's thinnest side: the median distance, in image
pixels, from a labelled pixel to the nearest unlabelled one, and from an unlabelled pixel
to the nearest labelled one, whichever is smaller (the membranes between cells, or the
cells on a background). ``segapp.ml.recipe.choose_resize_mode`` reads it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from segapp.core.project import ImageEntry, Project

SIDE = 1024  # masks larger than this are measured on a copy brought to this longer side


def structure_depth(labels: np.ndarray) -> float | None:
    """The median distance in pixels (of ``labels``, HxW class indices, 0 = background) from
    a pixel of the thinner side, labelled or not, to the other side; None when there is only
    one side."""
    side = labels > 0
    if not side.any() or side.all():
        return None
    step = max(1, math.ceil(max(side.shape) / SIDE))
    small = side.view(np.uint8)
    if step > 1:
        h, w = side.shape
        size = (max(1, round(w / step)), max(1, round(h / step)))
        small = cv2.resize(small, size, interpolation=cv2.INTER_NEAREST)
    depths = []
    for part in (small, 1 - small):
        if part.any():
            distance = cv2.distanceTransform(part, cv2.DIST_L2, 3)
            depths.append(float(np.median(distance[part > 0])))
    return min(depths) * step if len(depths) == 2 else None


def median_depth(masks: Iterable[np.ndarray]) -> float | None:
    """The median ``structure_depth`` of ``masks`` (those with both sides), or None."""
    return _median(structure_depth(m) for m in masks)


def project_depth(
    project: Project,
    entries: list[ImageEntry],
    count: int = 8,
    cache: dict[tuple[str, int], float | None] | None = None,
) -> float | None:
    """The median ``structure_depth`` of up to ``count`` of the entries' masks (``sample``; a
    mask that cannot be read is left out: training reports it). ``cache``: depths kept per
    mask file and modification time, so a caller asking again reads only changed masks."""
    depths = []
    for entry in sample(entries, count):
        if cache is None:
            depths.append(_read_depth(project, entry))
            continue
        try:
            key = _cache_key(entry)
        except OSError:  # gone: left out
            continue
        if key not in cache:
            cache[key] = _read_depth(project, entry)
        depths.append(cache[key])
    return _median(depths)


def unread(
    entries: list[ImageEntry], cache: dict[tuple[str, int], float | None], count: int = 8
) -> list[ImageEntry]:
    """The masks ``project_depth(project, entries, count, cache)`` would read: the sample's
    entries whose file, at its present modification time, is not in ``cache``."""
    todo = []
    for entry in sample(entries, count):
        try:
            key = _cache_key(entry)
        except OSError:  # gone: project_depth leaves it out
            continue
        if key not in cache:
            todo.append(entry)
    return todo


def _cache_key(entry: ImageEntry) -> tuple[str, int]:
    return str(entry.mask_path), entry.mask_path.stat().st_mtime_ns


def _read_depth(project: Project, entry: ImageEntry) -> float | None:
    """``structure_depth`` of the entry's mask; None when it cannot be read."""
    try:
        return structure_depth(project.read_labels(entry))
    except Exception:  # noqa: BLE001 - unreadable: training says so, with the file
        return None


def _median(depths: Iterable[float | None]) -> float | None:
    known = [d for d in depths if d is not None]
    return float(np.median(known)) if known else None


def sample(entries: list[ImageEntry], count: int = 8) -> list[ImageEntry]:
    """Up to ``count`` of ``entries``, picked by a stable hash of their stems: the same ones
    as images are corrected (one more enters only when its hash is among the lowest), so a
    depth measured for the Train panel is mostly read from masks it has read before."""
    return sorted(entries, key=lambda e: (zlib.crc32(e.stem.encode()), e.stem))[:count]
