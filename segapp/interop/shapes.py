"""Masks to polygons and back, for the formats that store outlines (labelme, COCO, YOLO).

A polygon cannot hold a hole, so a mask becomes *regions* painted in order, later ones
over earlier ones (as labelme's and COCO's own converters paint): every connected area of a
class with its holes filled, largest first, then whatever that got wrong (holes, areas of
another class inside) as further regions, until painting the outlines with OpenCV gives the
mask back pixel for pixel. Outlines run through the centres of the border pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_PASSES = 8


@dataclass
class Region:
    """One area of class index ``value``: its outline (N x 2 int32 pixel x, y) and its
    pixel count, holes included."""

    value: int
    outline: np.ndarray
    area: int


def regions(labels: np.ndarray) -> list[Region]:
    """Regions that, painted in list order with :func:`paint`, rebuild ``labels``."""
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    painted = np.zeros_like(labels)
    out: list[Region] = []
    for _ in range(MAX_PASSES):
        wrong = painted != labels
        if not wrong.any():
            break
        found: list[Region] = []
        for value in np.unique(labels[wrong]).tolist():
            found += _components(((labels == value) & wrong).astype(np.uint8), value)
        found.sort(key=lambda r: -r.area)
        for r in found:
            cv2.fillPoly(painted, [r.outline], r.value)
        out += found
    return out


def _components(binary: np.ndarray, value: int) -> list[Region]:
    """One region per 8-connected component of ``binary`` (its outer outline)."""
    n, comp, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    found = []
    for i in range(1, n):
        x, y, w, h = stats[i, :4]
        crop = np.pad((comp[y : y + h, x : x + w] == i).astype(np.uint8), 1)
        contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        outline = max(contours, key=len).reshape(-1, 2)
        filled = np.zeros_like(crop)
        cv2.fillPoly(filled, [outline], 1)
        outline = (outline + (x - 1, y - 1)).astype(np.int32)
        if len(outline) < 3:  # a dot or a line: repeat points so every format takes it
            outline = np.resize(outline, (3, 2))
        found.append(Region(int(value), outline, int(filled.sum())))
    return found


def check_points(points: np.ndarray, shape: tuple[int, int], where: str) -> None:
    """Refuse points that are not finite or lie far outside the image (rasterisers spend
    time and memory in proportion to the outline, and a point at 1e30 never ends)."""
    from segapp.interop.common import InteropError

    h, w = shape
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if not np.isfinite(pts).all():
        raise InteropError(f"{where}: a point is not a finite number")
    if ((pts < (-w, -h)) | (pts > (2 * w, 2 * h))).any():
        raise InteropError(f"{where}: a point lies far outside the {w}x{h} image")


def paint(
    shape: tuple[int, int], polygons: list[tuple[int, np.ndarray]], fill: int = 0
) -> np.ndarray:
    """An HxW uint8 mask with ``(value, N x 2 points)`` polygons painted in order."""
    mask = np.full(shape, fill, np.uint8)
    for value, points in polygons:
        pts = np.round(np.asarray(points, np.float64)).astype(np.int32).reshape(-1, 2)
        if len(pts):
            cv2.fillPoly(mask, [pts], int(value))
    return mask


def corner_outline(region: Region) -> np.ndarray:
    """The region's outline around pixel corners (x, y floats, pixel i spans [i, i+1]), so
    that rasterisers testing pixel centres (pycocotools) give its pixels back exactly."""
    x0, y0 = region.outline.min(axis=0)
    x1, y1 = region.outline.max(axis=0)
    crop = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(crop, [region.outline - (x0, y0)], 1)
    up = cv2.resize(np.pad(crop, 1), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=len).reshape(-1, 2).astype(np.float64)
    return (outline + 0.5) / 2 + (x0 - 1, y0 - 1)
