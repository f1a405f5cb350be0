"""What each image costs the person (``core.effort``): the effort half of LabelSession, and
the canvas wiring that feeds it.

The shown image's *visit* gathers actions (:meth:`EffortMixin.count_effort`) and active
seconds (:meth:`EffortMixin.note_input`, called on every mouse press, move, wheel and key
on the canvas; showing the image counts as an input). A save of the image folds the visit
into ``entry.effort``, which ``Project.write_labels`` records with the status; leaving the
image without a save folds it too and journals the record (``Project.record_effort``),
except on a corrected image the visit did not edit (looking at a finished mask costs it
nothing) and on an image that never showed (unreadable). So effort accumulates over visits
and sessions until the image is corrected, and keeps accumulating when a corrected mask is
edited again; a new proposal on the image starts it afresh, as the cost is per proposal
(what correcting *that* proposal took).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject

from segapp.core.effort import COUNTS, ActiveTimer, Effort
from segapp.core.imageio import WriteError

if TYPE_CHECKING:
    from segapp.core.project import ImageEntry
    from segapp.ui.canvas.canvas import Canvas

log = logging.getLogger(__name__)

# the canvas's tools whose finished edit (``editFinished``) is one action of a kind
TOOL_KINDS = {"brush": "strokes", "eraser": "strokes", "fill": "fills", "polygon": "polygons"}
INPUT_EVENTS = {
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseButtonDblClick,
    QEvent.Type.MouseMove,
    QEvent.Type.Wheel,
    QEvent.Type.KeyPress,
}


class EffortMixin:
    """The current image's visit: counts and active time, folded into its entry."""

    def _init_effort(self) -> None:
        self.clock: Callable[[], float] = time.monotonic  # seconds; tests set their own
        self._timer = ActiveTimer()
        self._visit = Effort()
        self._visit_stem: str | None = None
        self._visit_edited = False  # saved as corrected during this visit

    def count_effort(self, kind: str, n: int = 1) -> None:
        """Count ``n`` actions on the shown image: ``kind`` is "clicks", "strokes", "fills"
        or "polygons" (ValueError otherwise). An action is an input too (active time)."""
        if kind not in COUNTS:
            raise ValueError(f"unknown effort {kind!r}; expected one of {', '.join(COUNTS)}")
        if self._visit_stem is not None:
            setattr(self._visit, kind, getattr(self._visit, kind) + n)
            self.note_input()

    def note_input(self, t: float | None = None) -> None:
        """The person gave input on the shown image at ``t`` (default: ``clock()`` now)."""
        if self._visit_stem is not None:
            self._visit.seconds += self._timer.input(self.clock() if t is None else t)

    @property
    def visit_effort(self) -> Effort:
        """What the shown image's visit cost so far (not yet in its entry)."""
        return self._visit

    def _effort_open(self, stem: str | None) -> None:
        """``stem`` is shown now: its visit starts."""
        self._visit, self._visit_stem, self._visit_edited = Effort(), stem, False
        if stem is not None:
            self._timer.input(self.clock())

    def _effort_leave(self) -> None:
        """The shown image is left: its visit goes into its entry (journaled unless a save of
        the entry follows), or is dropped for a corrected image it did not edit."""
        stem = self._visit_stem
        if stem is not None and self.project is not None:
            self._visit.seconds += self._timer.stop(self.clock())
            entry, ds = self.entry_of(stem), self._docs.get(stem)
            dirty = ds is not None and ds.doc.dirty
            # an image that never showed (unreadable, or left while loading) cost no labeling
            counts = ds is not None and (dirty or self._visit_edited or entry.status != "corrected")
            if counts and self._fold_visit(entry) and not dirty:
                self._record_effort(entry)
        self._visit_stem = None

    def _record_effort(self, entry: ImageEntry) -> None:
        try:
            self.project.record_effort(entry)
        except WriteError as e:  # kept in memory: the next save of the image writes it
            log.warning("cannot record the effort of %s: %s", entry.stem, e)

    def _fold_visit(self, entry: ImageEntry) -> bool:
        """The visit so far into ``entry.effort`` (before it is written); False: nothing to."""
        if entry.stem != self._visit_stem or self._visit.empty:
            return False
        entry.effort = (entry.effort or Effort()) + self._visit
        self._visit = Effort()
        return True

    def _effort_saving(self, entry: ImageEntry, status: str) -> None:
        """``entry`` is about to be written with ``status``."""
        if entry.stem == self._visit_stem:
            self._visit_edited |= status == "corrected"
            self._fold_visit(entry)

    def _effort_reset(self, entry: ImageEntry) -> None:
        """A new proposal on ``entry``: what correcting it costs starts from nothing."""
        entry.effort = None
        if entry.stem == self._visit_stem:
            self._visit = Effort()


class EffortTracker(QObject):
    """Feeds ``session``'s effort from ``canvas``: each input event is active time, each
    finished brush / eraser stroke, fill and polygon one action of its kind."""

    def __init__(self, canvas: Canvas, session: EffortMixin) -> None:
        super().__init__(canvas)
        self.canvas, self.session = canvas, session
        canvas.installEventFilter(self)  # keys
        canvas.viewport().installEventFilter(self)  # mouse and wheel
        canvas.editFinished.connect(self._on_edit)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in INPUT_EVENTS:
            self.session.note_input()
        return False

    def _on_edit(self) -> None:
        kind = TOOL_KINDS.get(self.canvas.tool())
        if kind is not None:
            self.session.count_effort(kind)
