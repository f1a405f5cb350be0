"""``MaskDocument``: one image, its label mask, and every edit made to that mask.

The document is the only home of mask data. Widgets read ``doc.labels`` (a read-only
``HxW`` ``uint8`` view, pixel value = class value) and change it only by calling the
document's methods; each change is recorded for undo and reported to the callbacks
registered with :meth:`MaskDocument.on_change`, with the changed rectangle
``(x, y, w, h)`` -- or ``None`` when the whole mask may have changed -- so a canvas can
refresh just that part of its overlay.

A canvas drives the brush like this::

    doc.active_class = 1; doc.brush_radius = 8; doc.protect_others = True
    doc.begin_stroke(x, y)            # mouse press (erase=True for the eraser)
    doc.stroke_to(x, y)               # every mouse move: a capsule from the last point
    doc.end_stroke()                  # mouse release: the whole drag is one undo step

    doc.fill(x, y); doc.polygon([(x, y), ...]); doc.fill_holes(); doc.remove_islands(50)
    doc.grow(); doc.shrink(); doc.set_labels(proposal)     # each one undo step
    doc.undo(); doc.redo(); doc.dirty; doc.mark_saved()

Edit methods return the changed rectangle, or ``None`` when nothing changed (then no
callback fires). Coordinates are image pixels (floats are rounded). With
``protect_others`` the brush, eraser, fill, polygon and grow only replace background and
the active class, never another class (so the eraser then erases the active class only).

The document is not thread-safe: use it from the GUI thread; hand a worker a copy
(``doc.labels.copy()``) and give the result back with :meth:`MaskDocument.set_labels`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from segapp.core import cleanup, tools
from segapp.core.history import DEFAULT_MAX_BYTES, History
from segapp.core.imageio import MaskSizeError, MaskValueError
from segapp.core.tools import BACKGROUND, Patch, Point, Rect

log = logging.getLogger(__name__)

ChangeCallback = Callable[[Rect | None], None]


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


MAX_BRUSH_RADIUS = 1000  # px: the brush and eraser never grow beyond this
DEFAULT_BRUSH_RADIUS = 5  # px, on images up to 1000 px (larger ones: ui.labeling.paint_state)


class MaskDocument:
    """An image and its label mask, with brush state, undo history and change callbacks.

    ``image``: ``HxW`` or ``HxWx3``, ``uint8`` or ``uint16`` (kept, not copied).
    ``labels``: an ``HxW`` mask of class values (copied); ``None`` starts all background.
    ``history_bytes``: the undo memory budget.
    Raises ``MaskSizeError`` if ``labels`` is not the image's size.
    """

    def __init__(
        self,
        image: np.ndarray,
        labels: np.ndarray | None = None,
        *,
        history_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        image = np.asarray(image)
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(f"the image must be HxW or HxWx3, got shape {image.shape}")
        if image.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"the image must be uint8 or uint16, got {image.dtype}")
        self._image = _read_only(image)
        h, w = image.shape[:2]
        if labels is None:
            self._labels = np.zeros((h, w), dtype=np.uint8)
        else:
            self._labels = self._checked_labels(labels).copy()
        self._labels_view = _read_only(self._labels)
        self._history = History(history_bytes)
        self._saved_state = self._history.state
        self._callbacks: list[ChangeCallback] = []
        self._active_class = 1
        self._brush_radius = DEFAULT_BRUSH_RADIUS
        self.protect_others = False
        self._stroke_value: int | None = None
        self._stroke_last: Point | None = None

    # ------------------------------------------------------------------ data and state

    @property
    def image(self) -> np.ndarray:
        """The image (read-only)."""
        return self._image

    @property
    def labels(self) -> np.ndarray:
        """The label mask, ``HxW`` ``uint8`` (a read-only view; edit through methods)."""
        return self._labels_view

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self._labels.shape  # type: ignore[return-value]

    @property
    def history(self) -> History:
        return self._history

    @property
    def active_class(self) -> int:
        """The class value painted by the brush, fill, polygon, grow ... (0..255)."""
        return self._active_class

    @active_class.setter
    def active_class(self, value: int) -> None:
        value = int(value)
        if not 0 <= value <= 255:
            raise ValueError(f"class value must be in 0..255, got {value}")
        self._active_class = value

    @property
    def brush_radius(self) -> int:
        """Brush and eraser radius in image pixels (0 = one pixel)."""
        return self._brush_radius

    @brush_radius.setter
    def brush_radius(self, value: int) -> None:
        value = int(round(value))
        if value < 0:
            raise ValueError(f"brush radius must be >= 0, got {value}")
        self._brush_radius = value

    @property
    def dirty(self) -> bool:
        """True when the labels differ from the last saved (or loaded) state.

        Undoing back to the saved state makes the document clean again.
        """
        return self._history.pending or self._history.state != self._saved_state

    @property
    def can_undo(self) -> bool:
        return self._history.can_undo

    @property
    def can_redo(self) -> bool:
        return self._history.can_redo

    @property
    def in_stroke(self) -> bool:
        """True between :meth:`begin_stroke` and :meth:`end_stroke`."""
        return self._stroke_value is not None

    def label_at(self, x: float, y: float) -> int | None:
        """The class value at a pixel (None outside the image): an eyedropper."""
        ix, iy = int(round(x)), int(round(y))
        h, w = self.shape
        if 0 <= ix < w and 0 <= iy < h:
            return int(self._labels[iy, ix])
        return None

    def mark_saved(self) -> None:
        """Record that the current labels are saved: ``dirty`` becomes False."""
        self.end_stroke()
        self._saved_state = self._history.state

    def mark_unsaved(self) -> None:
        """Record that no state of the labels is saved: ``dirty`` until the next save."""
        self._saved_state = None

    # ------------------------------------------------------------------ callbacks

    def on_change(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback(rect)`` after every change of the labels; returns an unsubscribe.

        ``rect`` is ``(x, y, w, h)`` covering every changed pixel, or ``None`` for all.
        """
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def _notify(self, rect: Rect | None) -> None:
        for cb in list(self._callbacks):
            cb(rect)

    # ------------------------------------------------------------------ brush / eraser

    def _overwrite(self) -> set[int] | None:
        return {BACKGROUND, self._active_class} if self.protect_others else None

    def begin_stroke(self, x: float, y: float, erase: bool = False) -> Rect | None:
        """Mouse press: start a brush (or eraser) drag and paint a dab at (x, y)."""
        self.end_stroke()
        self._history.begin()
        self._stroke_value = BACKGROUND if erase else self._active_class
        self._stroke_last = (x, y)
        patch = tools.dab(
            self._labels, (x, y), self._brush_radius, self._stroke_value, self._overwrite()
        )
        return self._stroke_apply(patch)

    def stroke_to(self, x: float, y: float) -> Rect | None:
        """Mouse move: paint the capsule from the last point to (x, y) (no gaps).

        Without an open stroke, starts one (with the brush) at (x, y).
        """
        if self._stroke_value is None or self._stroke_last is None:
            return self.begin_stroke(x, y)
        patch = tools.segment(
            self._labels,
            self._stroke_last,
            (x, y),
            self._brush_radius,
            self._stroke_value,
            self._overwrite(),
        )
        self._stroke_last = (x, y)
        return self._stroke_apply(patch)

    def end_stroke(self) -> Rect | None:
        """Mouse release: the drag becomes one undo step; returns its whole rectangle.

        Does nothing without an open stroke. No callback fires (each move already did).
        """
        if self._stroke_value is None:
            return None
        self._stroke_value = None
        self._stroke_last = None
        return self._history.commit()

    def _stroke_apply(self, patch: Patch | None) -> Rect | None:
        if patch is None:
            return None
        old = patch.apply(self._labels)
        self._history.extend(patch.x, patch.y, old, patch.values)
        self._notify(patch.rect)
        return patch.rect

    # ------------------------------------------------------------------ one-step tools

    def _apply(self, patch: Patch | None) -> Rect | None:
        """Apply a patch as one undo step and report it."""
        self.end_stroke()
        if patch is None:
            return None
        old = patch.apply(self._labels)
        rect = self._history.push(patch.x, patch.y, old, patch.values)
        if rect is not None:
            self._notify(rect)
        return rect

    def fill(self, x: float, y: float, erase: bool = False) -> Rect | None:
        """Flood fill: the 4-connected region of equal label at (x, y) gets the active class."""
        value = BACKGROUND if erase else self._active_class
        return self._apply(tools.flood_fill(self._labels, (x, y), value, self._overwrite()))

    def outside_area(self, x: float, y: float) -> int:
        """Pixels a fill at (x, y) would give the active class from background that reaches
        the image's border (the outside of the objects, not a hole); 0 when it would not."""
        return self._outside_area(self._fill_patch(x, y))

    def fill_unless_outside(self, x: float, y: float) -> tuple[Rect | None, int]:
        """:meth:`fill`, except of background reaching the border: (changed rect, 0), or
        (None, :meth:`outside_area`) when it left that alone (one flood either way)."""
        patch = self._fill_patch(x, y)
        outside = self._outside_area(patch)
        return (None, outside) if outside else (self._apply(patch), 0)

    def _fill_patch(self, x: float, y: float) -> Patch | None:
        return tools.flood_fill(self._labels, (x, y), self._active_class, self._overwrite())

    def _outside_area(self, patch: Patch | None) -> int:
        if patch is None:
            return 0
        region = self._labels[patch.slices] != patch.values
        seed = self._labels[patch.slices][region]  # one label: the region's
        if not seed.size or seed[0] != BACKGROUND:
            return 0
        return int(seed.size) if tools.fill_reaches_border(self._labels, patch) else 0

    def polygon(self, points: Sequence[Point], erase: bool = False) -> Rect | None:
        """Fill the polygon / lasso through ``points`` (x, y) with the active class."""
        value = BACKGROUND if erase else self._active_class
        return self._apply(tools.polygon(self._labels, points, value, self._overwrite()))

    def fill_holes(self, all_classes: bool = False) -> Rect | None:
        """Background enclosed by the active class (or by any class) becomes that class."""
        value = None if all_classes else self._active_class
        if value == BACKGROUND:
            return None
        return self._apply(cleanup.fill_holes(self._labels, value))

    def remove_islands(self, min_px: int, all_classes: bool = False) -> Rect | None:
        """Pieces of the active class (or of any class) under ``min_px`` pixels take the
        label around them."""
        value = None if all_classes else self._active_class
        if value == BACKGROUND:
            return None
        return self._apply(cleanup.remove_islands(self._labels, min_px, value))

    def grow(self, pixels: int = 1) -> Rect | None:
        """Dilate the active class by ``pixels`` (respects ``protect_others``)."""
        if self._active_class == BACKGROUND:
            return None
        return self._apply(
            cleanup.grow(self._labels, self._active_class, pixels, self._overwrite())
        )

    def shrink(self, pixels: int = 1) -> Rect | None:
        """Erode the active class by ``pixels``; the lost pixels take the label around them."""
        return self._apply(cleanup.shrink(self._labels, self._active_class, pixels))

    def set_window(self, patch: Patch) -> Rect | None:
        """Write ``patch`` (a rectangle inside the mask) as one undo step, e.g. the Click
        tool's Esc putting back the mask it started from; returns the changed rectangle."""
        h, w = self.shape
        if patch.x < 0 or patch.y < 0 or patch.x + patch.w > w or patch.y + patch.h > h:
            raise ValueError(f"the patch {patch.rect} is not inside the {w}x{h} mask")
        return self._apply(patch)

    def set_class_window(self, x: int, y: int, on: np.ndarray) -> Rect | None:
        """The active class inside the window at (x, y) becomes ``on`` (HxW, 0/1): one undo
        step (a refined mask, e.g. the Click tool's). Respects ``protect_others``; no other
        class loses a pixel except where the active class may paint over it."""
        return self._apply(
            tools.class_window(self._labels, x, y, on, self._active_class, self._overwrite())
        )

    # ------------------------------------------------------------------ whole mask

    def _checked_labels(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels)
        h, w = self._image.shape[:2]
        if labels.ndim != 2 or labels.shape != (h, w):
            size = f"{labels.shape[1]}x{labels.shape[0]}" if labels.ndim == 2 else str(labels.shape)
            raise MaskSizeError(f"the mask is {size} but the image is {w}x{h} (width x height)")
        if labels.dtype == np.uint8:
            return labels
        if labels.dtype == bool:
            return labels.astype(np.uint8)
        if not np.issubdtype(labels.dtype, np.integer):
            raise MaskValueError(f"a mask must hold integer class values, got {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise MaskValueError("mask values must be class values in 0..255")
        return labels.astype(np.uint8)

    def set_labels(self, labels: np.ndarray, as_proposal: bool = True) -> Rect | None:
        """Replace the whole mask.

        ``as_proposal=True`` (a model's proposal, a pasted mask): one undo step; the
        document becomes dirty; returns and reports the changed rectangle (None if no
        pixel changed). ``as_proposal=False`` (the mask was just loaded from disk): the
        history is cleared, the document is clean, callbacks get ``None``.
        Raises ``MaskSizeError`` if the size differs from the image's.
        """
        new = self._checked_labels(labels)
        self.end_stroke()
        if not as_proposal:
            self._labels[...] = new
            self._history.clear()
            self._saved_state = self._history.state
            self._notify(None)
            return None
        rect = self._history.push(0, 0, self._labels, new)
        if rect is None:
            return None
        x, y, w, h = rect
        self._labels[y : y + h, x : x + w] = new[y : y + h, x : x + w]
        self._notify(rect)
        return rect

    # ------------------------------------------------------------------ undo / redo

    def undo(self) -> Rect | None:
        """Undo the last step (an open stroke is ended first); returns the changed rectangle."""
        self.end_stroke()
        rect = self._history.undo(self._labels)
        if rect is not None:
            self._notify(rect)
        return rect

    def redo(self) -> Rect | None:
        """Redo the last undone step; returns the changed rectangle."""
        self.end_stroke()
        rect = self._history.redo(self._labels)
        if rect is not None:
            self._notify(rect)
        return rect
