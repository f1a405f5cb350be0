"""Editing tools: pure functions on a label mask that say what would change, never change it.

A label mask is an ``HxW`` ``uint8`` array whose pixel values are class values (0 =
background). Every tool takes the mask and returns a :class:`Patch` -- a rectangle of the
mask and the new values for it -- or ``None`` when the operation would change no pixel.
The input is never modified; the caller applies the patch (``old = patch.apply(mask)``),
which hands back the previous values for an undo diff (see :mod:`segapp.core.history`).
:class:`segapp.core.document.MaskDocument` wires tools, history and change callbacks
together; widgets should call the document, not these functions.

Cost: the brush tools (:func:`dab`, :func:`segment`, :func:`polygon`) work on the
bounding box of what they draw, and :func:`flood_fill` on a window that grows with the
region it fills, so none of them depends on the image size. The whole-class tools
(fill holes, remove islands, grow, shrink: :mod:`segapp.core.cleanup`) scan the image once
to find the class and then work on the class's bounding box.

Coordinates are image pixels, ``x`` to the right and ``y`` down; points are ``(x, y)`` and
may be floats (rounded to the nearest pixel). Rectangles are ``(x, y, w, h)``.

Protecting other classes: tools that paint take ``overwrite``, the set of class values
they may replace. ``None`` replaces anything; ``{0, active}`` paints over background and
the active class only, so other classes are never touched (this is how the document
implements "protect other classes"). Erasing is painting value 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Rect = tuple[int, int, int, int]
"""A rectangle ``(x, y, w, h)`` in image pixels."""

Point = tuple[float, float]
"""A point ``(x, y)`` in image pixels."""

BACKGROUND = 0


@dataclass(frozen=True, eq=False)
class Patch:
    """New values for a rectangle of a mask: ``mask[y:y+h, x:x+w] = values``.

    ``values`` holds the whole rectangle, unchanged pixels included.
    """

    x: int
    y: int
    values: np.ndarray

    @property
    def w(self) -> int:
        return int(self.values.shape[1])

    @property
    def h(self) -> int:
        return int(self.values.shape[0])

    @property
    def rect(self) -> Rect:
        """The rectangle ``(x, y, w, h)``."""
        return (self.x, self.y, self.w, self.h)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``mask[patch.slices]`` is the rectangle of the mask the patch covers."""
        return (slice(self.y, self.y + self.h), slice(self.x, self.x + self.w))

    def apply(self, mask: np.ndarray) -> np.ndarray:
        """Write the new values into ``mask`` and return a copy of the values they replaced."""
        view = mask[self.slices]
        old = view.copy()
        view[...] = self.values
        return old


# ---------------------------------------------------------------------------- helpers


def _xy(p: Point) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _clip(x0: int, y0: int, x1: int, y1: int, shape: tuple[int, ...]) -> Rect | None:
    """Clip the half-open box [x0, x1) x [y0, y1) to the mask; None when it is empty."""
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, shape[1]), min(y1, shape[0])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _writable(crop: np.ndarray, overwrite: Iterable[int] | None) -> np.ndarray | None:
    """Boolean map of the pixels whose current class may be replaced (None: all of them)."""
    if overwrite is None:
        return None
    lut = np.zeros(256, dtype=bool)
    lut[[int(v) for v in overwrite]] = True
    return lut[crop]


def paint_selection(
    mask: np.ndarray,
    rect: Rect,
    sel: np.ndarray,
    value: int,
    overwrite: Iterable[int] | None,
) -> Patch | None:
    """Patch that sets ``value`` where ``sel`` (a bool map of ``rect``) is true and allowed."""
    x, y, w, h = rect
    crop = mask[y : y + h, x : x + w]
    sel = sel & (crop != value)
    allowed = _writable(crop, overwrite)
    if allowed is not None:
        sel &= allowed
    if not sel.any():
        return None
    values = crop.copy()
    values[sel] = value
    return Patch(x, y, values)


def check_mask(mask: np.ndarray) -> None:
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"a label mask must be a 2-D uint8 array, got {mask.dtype} {mask.shape}")


def check_value(value: int) -> int:
    value = int(value)
    if not 0 <= value <= 255:
        raise ValueError(f"class value must be in 0..255, got {value}")
    return value


def class_bbox(mask: np.ndarray, value: int) -> Rect | None:
    """Bounding rectangle of the pixels equal to ``value`` (None if there are none).

    Scans the whole mask once.
    """
    return bbox(mask == value)


def bbox(selected: np.ndarray) -> Rect | None:
    """Bounding rectangle of the true pixels of a bool array (None if there are none)."""
    rows = np.flatnonzero(selected.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(selected.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def union(a: Rect | None, b: Rect | None) -> Rect | None:
    """The rectangle covering ``a`` and ``b`` (either may be None: nothing)."""
    if a is None:
        return b
    if b is None:
        return a
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def pad_rect(rect: Rect, pad: int, shape: tuple[int, ...]) -> Rect:
    x, y, w, h = rect
    out = _clip(x - pad, y - pad, x + w + pad, y + h + pad, shape)
    assert out is not None
    return out


def classes_present(mask: np.ndarray) -> list[int]:
    counts = cv2.calcHist([np.ascontiguousarray(mask)], [0], None, [256], [0, 256]).ravel()
    return [int(v) for v in np.flatnonzero(counts) if v != BACKGROUND]


# ---------------------------------------------------------------------------- brush


def dab(
    mask: np.ndarray,
    center: Point,
    radius: int,
    value: int,
    overwrite: Iterable[int] | None = None,
) -> Patch | None:
    """A round dab: the disk of ``radius`` pixels around ``center`` set to ``value``.

    ``radius`` 0 paints one pixel; the disk has about pi*r^2 pixels. Cost: (2r+1)^2.
    """
    return segment(mask, center, center, radius, value, overwrite)


def segment(
    mask: np.ndarray,
    p0: Point,
    p1: Point,
    radius: int,
    value: int,
    overwrite: Iterable[int] | None = None,
) -> Patch | None:
    """A brush stroke from ``p0`` to ``p1``: the capsule of all pixels within ``radius``.

    Round caps equal to :func:`dab`, so consecutive mouse moves join with no gaps however
    fast the mouse goes. Cost: the segment's bounding box.
    """
    check_mask(mask)
    value = check_value(value)
    r = max(int(round(radius)), 0)
    (ax, ay), (bx, by) = _xy(p0), _xy(p1)
    rect = _clip(
        min(ax, bx) - r, min(ay, by) - r, max(ax, bx) + r + 1, max(ay, by) + r + 1, mask.shape
    )
    if rect is None:
        return None
    x, y, w, h = rect
    sel = np.zeros((h, w), dtype=np.uint8)
    a, b = (ax - x, ay - y), (bx - x, by - y)
    cv2.circle(sel, a, r, 1, thickness=-1)
    if a != b:
        cv2.circle(sel, b, r, 1, thickness=-1)
        # a line of thickness 2r has half-width r and round caps of radius r
        cv2.line(sel, a, b, 1, thickness=max(1, 2 * r))
    return paint_selection(mask, rect, sel.view(bool), value, overwrite)


def polygon(
    mask: np.ndarray,
    points: Sequence[Point],
    value: int,
    overwrite: Iterable[int] | None = None,
) -> Patch | None:
    """Fill the polygon (or lasso path, closed automatically) through ``points``.

    Fewer than 3 points fill nothing. Cost: the polygon's bounding box.
    """
    check_mask(mask)
    value = check_value(value)
    pts = np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(np.int64)
    if len(pts) < 3:
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    rect = _clip(int(lo[0]), int(lo[1]), int(hi[0]) + 1, int(hi[1]) + 1, mask.shape)
    if rect is None:
        return None
    x, y, w, h = rect
    sel = np.zeros((h, w), dtype=np.uint8)
    local = (pts - np.array([x, y])).astype(np.int32)
    cv2.fillPoly(sel, [local], 1)
    return paint_selection(mask, rect, sel.view(bool), value, overwrite)


def flood_fill(
    mask: np.ndarray,
    point: Point,
    value: int,
    overwrite: Iterable[int] | None = None,
    connectivity: int = 4,
) -> Patch | None:
    """Set the region of equal label containing ``point`` (4-connected by default) to ``value``.

    With ``overwrite``, a region whose class is not in it is left alone. Cost: a window
    around the point that doubles until it holds the region, so about the region's
    bounding box, never the image.
    """
    check_mask(mask)
    value = check_value(value)
    px, py = _xy(point)
    H, W = mask.shape
    if not (0 <= px < W and 0 <= py < H):
        return None
    seed = int(mask[py, px])
    if seed == value or (overwrite is not None and seed not in {int(v) for v in overwrite}):
        return None
    half = 64
    while True:
        x0, y0 = max(px - half, 0), max(py - half, 0)
        x1, y1 = min(px + half + 1, W), min(py + half + 1, H)
        crop = mask[y0:y1, x0:x1].copy()
        _, _, _, (rx, ry, rw, rh) = cv2.floodFill(
            crop, None, (px - x0, py - y0), value, 0, 0, connectivity
        )
        at_edge = (
            (rx == 0 and x0 > 0)
            or (ry == 0 and y0 > 0)
            or (rx + rw == x1 - x0 and x1 < W)
            or (ry + rh == y1 - y0 and y1 < H)
        )
        if not at_edge:
            return Patch(x0 + rx, y0 + ry, crop[ry : ry + rh, rx : rx + rw].copy())
        half *= 2


def fill_reaches_border(mask: np.ndarray, patch: Patch) -> bool:
    """Does the region a :func:`flood_fill` ``patch`` changes in ``mask`` touch the image's
    border (the outside of the objects rather than a hole)?"""
    height, width = mask.shape[:2]
    x, y, w, h = patch.rect
    region = mask[patch.slices] != patch.values
    return bool(
        (x == 0 and region[:, 0].any())
        or (y == 0 and region[0].any())
        or (x + w == width and region[:, -1].any())
        or (y + h == height and region[-1].any())
    )


def class_window(
    mask: np.ndarray,
    x: int,
    y: int,
    on: np.ndarray,
    value: int,
    overwrite: Iterable[int] | None = None,
) -> Patch | None:
    """Class ``value`` inside the window at (x, y) becomes ``on`` (a bool or 0/1 map).

    Pixels of ``on`` become ``value`` where ``overwrite`` allows their class; pixels of
    ``value`` outside ``on`` become background; no other pixel changes (a refined mask
    of one class, e.g. from the Click tool). The window is clipped to the mask. Cost:
    the window.
    """
    check_mask(mask)
    value = check_value(value)
    h, w = on.shape
    rect = _clip(int(x), int(y), int(x) + w, int(y) + h, mask.shape)
    if rect is None:
        return None
    rx, ry, rw, rh = rect
    on = on[ry - int(y) : ry - int(y) + rh, rx - int(x) : rx - int(x) + rw].astype(bool)
    crop = mask[ry : ry + rh, rx : rx + rw]
    add = on & (crop != value)
    allowed = _writable(crop, overwrite)
    if allowed is not None:
        add &= allowed
    drop = ~on & (crop == value) if value != BACKGROUND else np.zeros_like(on)
    if not add.any() and not drop.any():
        return None
    values = crop.copy()
    values[add] = value
    values[drop] = BACKGROUND
    return Patch(rx, ry, values)


# ---------------------------------------------------------------------------- whole-class tools
