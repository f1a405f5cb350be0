"""Clean-up of a label mask (the Mask menu and the toolbar's Clean up): fill holes and
remove islands (of one class or of all), grow and shrink a class. Pure functions like
:mod:`segapp.core.tools`: each returns a :class:`Patch` (one undo step) or None when nothing
changes; a removed island or a shrunk rim takes the label around it, not always background."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from segapp.core.tools import (
    BACKGROUND,
    Patch,
    Rect,
    check_mask,
    check_value,
    class_bbox,
    classes_present,
    pad_rect,
    paint_selection,
    union,
)


def _holes(cls: np.ndarray) -> np.ndarray:
    """Pixels outside ``cls`` (bool) not 4-connected to the border of the array."""
    outside = np.pad((~cls).view(np.uint8), 1, constant_values=1)
    cv2.floodFill(outside, None, (0, 0), 2, 0, 0, 4)
    return outside[1:-1, 1:-1] == 1


def fill_holes(mask: np.ndarray, value: int | None = None) -> Patch | None:
    """Background enclosed by a class becomes that class.

    A hole of class ``c`` is a region of pixels that are not ``c`` and not 4-connected to
    the image border; its background pixels are set to ``c`` (other classes inside it are
    kept). ``value=None`` fills the holes of every class, innermost classes first (by
    bounding-box area), so a ring inside a ring keeps its own hole.
    """
    check_mask(mask)
    classes = classes_present(mask) if value is None else [check_value(value)]
    classes = [c for c in classes if c != BACKGROUND]
    boxes = {c: class_bbox(mask, c) for c in classes}
    boxes = {c: b for c, b in boxes.items() if b is not None}
    if not boxes:
        return None
    total: Rect | None = None
    for b in boxes.values():
        total = union(total, b)
    assert total is not None
    tx, ty, tw, th = total
    work = mask[ty : ty + th, tx : tx + tw].copy()
    changed = False
    for c in sorted(boxes, key=lambda c: boxes[c][2] * boxes[c][3]):
        x, y, w, h = boxes[c]
        sub = work[y - ty : y - ty + h, x - tx : x - tx + w]
        sel = _holes(sub == c) & (sub == BACKGROUND)
        if sel.any():
            sub[sel] = c
            changed = True
    return Patch(tx, ty, work) if changed else None


def remove_islands(
    mask: np.ndarray, min_px: int, value: int | None = None, connectivity: int = 8
) -> Patch | None:
    """Connected pieces of a class smaller than ``min_px`` pixels take the nearest other
    label: background, or the class around them (as :func:`shrink`).

    ``value=None`` cleans every class. Pieces are 8-connected by default.
    """
    check_mask(mask)
    classes = classes_present(mask) if value is None else [check_value(value)]
    total: Rect | None = None
    work_parts: list[tuple[Rect, np.ndarray, np.ndarray]] = []
    for c in classes:
        if c == BACKGROUND:
            continue
        box = class_bbox(mask, c)
        if box is None:
            continue
        x, y, w, h = box = pad_rect(box, 1, mask.shape)  # the labels around a piece at its edge
        sub = mask[y : y + h, x : x + w]
        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            (sub == c).view(np.uint8), connectivity=connectivity
        )
        small = stats[:, cv2.CC_STAT_AREA] < int(min_px)
        small[0] = False  # label 0: pixels not of class c
        if n <= 1 or not small.any():
            continue
        sel = small[labels]
        work_parts.append((box, sel, _fill_from_around(sub, sel, c)))
        total = union(total, box)
    if total is None:
        return None
    tx, ty, tw, th = total
    work = mask[ty : ty + th, tx : tx + tw].copy()
    for (x, y, w, h), sel, filled in work_parts:
        work[y - ty : y - ty + h, x - tx : x - tx + w][sel] = filled[sel]
    return Patch(tx, ty, work)


def disk_kernel(pixels: int) -> np.ndarray:
    """The structuring element of a disk of radius ``pixels`` (for 1, the 4 neighbours)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))


def grow(
    mask: np.ndarray, value: int, pixels: int = 1, overwrite: Iterable[int] | None = None
) -> Patch | None:
    """Dilate class ``value`` by ``pixels`` (a disk; for 1 pixel, the 4 neighbours).

    The pixels it grows into become ``value`` if ``overwrite`` allows their class.
    """
    check_mask(mask)
    value = check_value(value)
    pixels = int(pixels)
    box = class_bbox(mask, value)
    if box is None or pixels < 1:
        return None
    x, y, w, h = rect = pad_rect(box, pixels, mask.shape)
    cls = (mask[y : y + h, x : x + w] == value).view(np.uint8)
    grown = cv2.dilate(cls, disk_kernel(pixels)).view(bool)
    return paint_selection(mask, rect, grown, value, overwrite)


def shrink(mask: np.ndarray, value: int, pixels: int = 1) -> Patch | None:
    """Erode class ``value`` by ``pixels``; each pixel it loses takes the nearest other
    label: background, or the class around it (glasses shrunk inside a face stay face, not
    a ring of background nobody painted).

    The image border does not erode: an object cut by the image frame stays cut there.
    """
    check_mask(mask)
    value = check_value(value)
    pixels = int(pixels)
    box = class_bbox(mask, value) if value != BACKGROUND else None
    if box is None or pixels < 1:
        return None
    x, y, w, h = pad_rect(box, pixels, mask.shape)
    crop = mask[y : y + h, x : x + w]
    cls = (crop == value).view(np.uint8)
    lost = cls.view(bool) & ~cv2.erode(cls, disk_kernel(pixels)).view(bool)
    if not lost.any():
        return None
    return Patch(x, y, _fill_from_around(crop, lost, value))


def _fill_from_around(crop: np.ndarray, lost: np.ndarray, value: int) -> np.ndarray:
    """``crop`` with each ``lost`` pixel (of class ``value``) given the label of the nearest
    pixel of another label, grown in ring by ring (4-neighbours); background where no other
    label is in reach. Works on the lost pixels only: the rim of a 35-megapixel object is a
    few thousand of them (a distance transform of the whole window took 8x the shrink)."""
    out = crop.copy()
    h, w = crop.shape
    donor = crop != value
    ys, xs = np.nonzero(lost)
    while ys.size:
        got = np.zeros(ys.size, bool)
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            ny, nx = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
            take = ~got & donor[ny, nx]
            out[ys[take], xs[take]] = out[ny[take], nx[take]]
            got |= take
        if not got.any():
            break
        donor[ys[got], xs[got]] = True
        ys, xs = ys[~got], xs[~got]
    out[ys, xs] = BACKGROUND
    return out
