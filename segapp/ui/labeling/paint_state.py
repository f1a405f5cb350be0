"""What the session paints with: the active class, "protect other classes", the brush size,
and the project's classes (names and colours, saved in segapp.json).

The paint half of :class:`~segapp.ui.labeling.session.LabelSession` (uses its project,
current document and signals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segapp.core.classes import ClassInfo
from segapp.core.document import DEFAULT_BRUSH_RADIUS, MAX_BRUSH_RADIUS
from segapp.core.imageio import WriteError
from segapp.core.project import IGNORE_INDEX

if TYPE_CHECKING:
    from segapp.core.document import MaskDocument


DEFAULT_BRUSH_SHARE = 1 / 200  # of the longer side, on larger images: 20 px at 4000 px


class PaintStateMixin:
    """Brush state, applied to every document shown, and class edits.

    The brush keeps its size against the image: a radius the person chose on one image is
    scaled by the longer sides on an image of another size, so that it covers the same share
    of the picture (and of the screen, at the fitted zoom) on a 4000 px photo as on a 500 px
    one. Until the person sizes it, it is ``DEFAULT_BRUSH_RADIUS``, or a ``DEFAULT_BRUSH_SHARE``
    of a large image's longer side.
    """

    brush_radius: int = DEFAULT_BRUSH_RADIUS  # as the person last set it ...
    _brush_side: int | None = None  # ... on an image of this longer side (None: not yet)

    def brush_for(self, shape: tuple[int, ...]) -> int:
        """The brush radius (image pixels) for an image of ``shape``."""
        side = max(shape[:2])
        if self._brush_side is None:
            radius = max(DEFAULT_BRUSH_RADIUS, round(side * DEFAULT_BRUSH_SHARE))
        else:
            radius = round(self.brush_radius * side / self._brush_side)
        return min(radius, MAX_BRUSH_RADIUS)

    def _apply_brush_state(self, doc: MaskDocument) -> None:
        doc.active_class = self.active_class
        doc.protect_others = self.protect_others
        doc.brush_radius = self.brush_for(doc.shape)

    def set_active_class(self, index: int) -> None:
        """The class the brush paints: 0..classes-1, or IGNORE_INDEX ("not labelled here")
        in a project that has the ignore value."""
        if self.project is None:
            return
        ignore = index == IGNORE_INDEX and self.project.ignore_value is not None
        if not (0 <= index < self.project.num_classes or ignore):
            return
        self.active_class = index
        if self.doc:
            self.doc.active_class = index

    def set_protect_others(self, on: bool) -> None:
        self.protect_others = bool(on)
        if self.doc:
            self.doc.protect_others = self.protect_others

    def set_brush_radius(self, radius: int) -> None:
        """The person's brush radius on the current image (kept in scale on the next ones)."""
        self.brush_radius = max(0, int(radius))
        if self.doc:
            self._brush_side = max(self.doc.shape)
            self.doc.brush_radius = self.brush_radius

    def brush_memory(self) -> tuple[int, int]:
        """(radius, longer side it was set on) to remember across sessions; (0, 0): unset."""
        return (self.brush_radius, self._brush_side) if self._brush_side else (0, 0)

    def restore_brush(self, radius: int, side: int) -> None:
        """A radius remembered from an earlier session (``brush_memory``); unset ones
        (0, or values that are not sizes) leave the default."""
        if radius > 0 and side > 0:
            self.brush_radius, self._brush_side = min(radius, MAX_BRUSH_RADIUS), side

    def _save_meta(self) -> None:
        assert self.project is not None
        try:
            self.project.save()
        except WriteError as e:
            self.error.emit("Could not save the project file", str(e))
        self.classesChanged.emit()

    def add_class(self, name: str, color: tuple[int, int, int]) -> None:
        if self.project is None:
            return
        used = {c.value for c in self.project.classes}
        # stored as its index where that is free (pixel value = class index, as other tools
        # read masks), else the first free value (a 0/255 project keeps 255 for foreground)
        index = len(self.project.classes)
        free = index < 255 and index not in used
        value = index if free else next(v for v in range(1, 256) if v not in used)
        self.project.classes.append(ClassInfo(name, tuple(color), value))
        self._save_meta()

    def rename_class(self, index: int, name: str) -> None:
        if self.project and name and self.project.classes[index].name != name:
            self.project.classes[index].name = name
            self._save_meta()

    def recolor_class(self, index: int, color: tuple[int, int, int]) -> None:
        if self.project:
            self.project.classes[index].color = tuple(color)
            self._save_meta()
