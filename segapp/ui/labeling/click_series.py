"""The Click tool's controller: a series of clicks that the model engine turns into a mask.

A *series* starts with the first click on an image and ends when it is accepted (Enter,
the fill or polygon tool, another image or class) or cancelled (Esc: the mask as it was
before the first click comes back, as one undo step). Each click asks the engine (in the propose
worker's thread) to redraw the active class's mask from the current mask and all the
clicks; the answer is applied as a patch of that class inside the engine's window, one
undo step, so undo steps back click by click (the dots follow the undo history).

Rapid clicks coalesce: one request is in flight at a time; clicks made meanwhile wait,
and when it returns a stale answer (the clicks or the mask changed since) is dropped and
the latest clicks are sent. Brush and eraser strokes between clicks keep the series (its
dots stay shown): the next click refines the painted mask. Removing a dot redraws from the mask the series started from
(or from the last stroke made during the series) with the dots that remain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QStatusBar

from segapp.core import tools
from segapp.core.clicks import Click
from segapp.core.tools import BACKGROUND, Patch, Rect
from segapp.ui.elided_label import ElidedLabel
from segapp.ui.labeling.model_panel import is_trained_ref
from segapp.ui.labeling.refine import RefineRequest, RefineResult

if TYPE_CHECKING:
    from segapp.ui.canvas.canvas import Canvas
    from segapp.ui.labeling.doc_state import DocState
    from segapp.ui.labeling.session import LabelSession

log = logging.getLogger(__name__)

KEEPS_SERIES = ("click", "brush", "eraser")  # tools that mix with clicks; others accept
HINT = "Click: left = the class is here, right = it is not; Enter keeps, Esc restores"
NOTE_MS = 8000  # a note stays this long in the tool's status label (as window messages do)
LABEL_WIDTH = 560  # px: the hint and "Click: N dots — … (ms)" whole (walk-throughs 9, 10)


class ClickSeries(QObject):
    """The clicks on the shown image and their requests (GUI thread; no mask data of its own
    besides the series' starting mask, kept for Esc).

    ``model_ref()`` and ``threshold()`` say what proposes now (the model panel's choice);
    an untrained choice sends no model, and the engine falls back to GrabCut.
    Signals: ``dotsChanged(list[Click])``, ``refined(RefineResult)`` (applied to the mask).
    """

    dotsChanged = Signal(object)
    refined = Signal(object)

    def __init__(
        self,
        session: LabelSession,
        model_ref: Callable[[], str],
        threshold: Callable[[], float],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.engine = session, session.engine
        self._model_ref, self._threshold = model_ref, threshold
        self._seq = 0
        self._in_flight: RefineRequest | None = None
        self._sent_state: tuple | None = None  # what the request in flight was made for
        self.last_latency_s: float | None = None  # click to mask, of the last applied answer
        self._refiner_name = ""  # what refined the last answer (the status says it)
        # in the status bar while the Click tool is chosen, wide enough for its texts at 1300 px
        self.label = ElidedLabel(HINT, max_width=LABEL_WIDTH)
        self.label.setVisible(False)
        self._end()
        self.engine.refineReady.connect(self._on_result)
        self.engine.refineFailed.connect(self._on_failed)

    # ------------------------------------------------------------------ state
    def _end(self) -> None:
        """No series (a request in flight is left to return and be dropped)."""
        self._ds: DocState | None = None
        self._class = BACKGROUND  # the class the series refines
        self._unsubscribe: Callable[[], None] | None = None
        self.clicks: list[Click] = []
        self._steps: dict[int, tuple[Click, ...]] = {}  # undo state -> the dots it shows
        self._start: np.ndarray | None = None  # the labels before the first click (Esc)
        self._base: np.ndarray | None = None  # what a dot's removal redraws from
        self._changed: Rect | None = None  # everything the series changed (Esc)
        self._dirty = False  # the dots are not in the mask yet: a request is due
        self._from_base = False  # ... and it starts from ``_base`` (a dot was removed)
        self._closing = False  # accepted: ends once the answer in flight is applied
        self._applying = False
        self._clicked_at = 0.0

    @property
    def active(self) -> bool:
        """A series is open."""
        return self._ds is not None

    def _close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._end()
        self.dotsChanged.emit([])
        self.label.setText(HINT)

    def _start_series(self, ds: DocState) -> None:
        self._close()
        doc = ds.doc
        self._ds, self._class = ds, doc.active_class
        self._start = self._base = doc.labels.copy()
        self._steps = {doc.history.state: ()}
        self._unsubscribe = doc.on_change(self._on_doc_change)

    # ------------------------------------------------------------------ the person's input
    def click(self, x: int, y: int, positive: bool) -> None:
        """A click at image pixel (x, y): positive = "the active class is here"."""
        ds = self.session.state
        if ds is None or self.session.project is None:
            return
        if ds.doc.active_class == BACKGROUND:
            self._note("Click: choose a class to refine (not the background)")
            return
        if ds is not self._ds or self._closing or ds.doc.active_class != self._class:
            self._close()
            self._start_series(ds)
        self.clicks.append(Click(x, y, positive))
        self.session.count_effort("clicks")
        self._changed_dots(from_base=False)

    def remove(self, index: int) -> None:
        """The person clicked dot ``index``: it goes and the mask is redrawn without it."""
        if not self.active or self._closing or not 0 <= index < len(self.clicks):
            return
        del self.clicks[index]
        self.session.count_effort("clicks")
        self._changed_dots(from_base=True)

    def accept(self) -> None:
        """Keep the mask and end the series (once the answer to the last click is in)."""
        if self._dirty and self._in_flight is not None:
            self._closing = True
        elif self.active:
            self._close()

    def cancel(self) -> None:
        """Esc: the mask as it was before the series' first click (one undo step)."""
        if not self.active:
            return
        assert self._ds is not None and self._start is not None
        doc, changed, start = self._ds.doc, self._changed, self._start
        self._close()
        if changed is not None:
            x, y, w, h = changed
            doc.set_window(Patch(x, y, start[y : y + h, x : x + w].copy()))
        self._note("Click: the mask is back as it was before the first click")

    def _changed_dots(self, from_base: bool) -> None:
        self._clicked_at = time.perf_counter()
        self._dirty = True
        self._from_base |= from_base
        self.dotsChanged.emit(list(self.clicks))
        if not self.clicks and self._from_base:
            self._restore_base()  # no dot left: the mask the clicks started from
        else:
            self._send()

    def _restore_base(self) -> None:
        assert self._ds is not None and self._base is not None
        doc, changed, base = self._ds.doc, self._changed, self._base
        self._dirty = self._from_base = False
        if changed is not None and not doc.in_stroke:
            x, y, w, h = changed
            self._apply(lambda: doc.set_window(Patch(x, y, base[y : y + h, x : x + w].copy())))

    # ------------------------------------------------------------------ the document
    def _on_doc_change(self, rect: Rect | None) -> None:
        if self._ds is not None:
            self._changed = tools.union(self._changed, rect or (0, 0, *self._ds.doc.shape[::-1]))
        if not self._applying:
            self.sync()

    def sync(self) -> None:
        """The mask changed (undo, redo, a stroke): the dots follow the undo history."""
        if self._ds is None:
            return
        doc = self._ds.doc
        if doc.history.pending or doc.in_stroke:
            return  # a stroke in progress: seen when it ends
        state = doc.history.state
        if state in self._steps:  # undo / redo: its dots
            if tuple(self.clicks) != self._steps[state]:
                self.clicks = list(self._steps[state])
                self._dirty = self._from_base = False
                self.dotsChanged.emit(list(self.clicks))
                self._say()
        elif doc.history.redo_count == 0:  # an edit made during the series (brush ...)
            self._steps[state] = tuple(self.clicks)
            self._base = doc.labels.copy()
        else:  # undone to before the series
            self._close()
            return
        self._send()

    # ------------------------------------------------------------------ requests
    def _send(self) -> None:
        """Send the dots now, if due and nothing is in flight (else when it returns)."""
        ds = self._ds
        if ds is None or not self._dirty or self._in_flight is not None or ds.doc.in_stroke:
            return
        project, doc = self.session.project, ds.doc
        if project is None or not self.clicks:
            return
        model = self._model_ref()
        self._seq += 1
        h, w = doc.shape
        req = RefineRequest(
            self._seq,
            model if is_trained_ref(model) else "",
            project.num_classes,
            f"{project.root}/{ds.entry.stem}@{w}x{h}",
            doc.image,
            doc.labels.copy(),
            doc.active_class,
            tuple(self.clicks),
            self._threshold(),
            self._clicked_at,
            doc.protect_others,
            self._base if self._from_base else None,
            self._changed,
        )
        self._in_flight, self._sent_state = req, self._doc_state(doc)
        self.engine.refine(req)
        if not self.engine.ready:
            self._note("Click: refining… (the model engine is still loading)")

    @staticmethod
    def _doc_state(doc) -> tuple:
        """What an answer was made for: the mask (its undo state), class and protection."""
        return (doc.history.state, doc.active_class, doc.protect_others)

    def _take(self, seq: int) -> RefineRequest | None:
        req = self._in_flight
        if req is None or req.seq != seq:
            return None
        self._in_flight = None
        return req

    def _on_result(self, result: RefineResult) -> None:
        req = self._take(result.seq)
        if req is None:
            return
        ds = self._ds
        fresh = (
            ds is not None
            and req.image is ds.doc.image
            and tuple(self.clicks) == req.clicks
            and self._doc_state(ds.doc) == self._sent_state
            and not ds.doc.in_stroke
        )
        if not fresh:  # stale: the latest dots go now
            self._send()
            if self._closing and self._in_flight is None:
                self._close()
            return
        assert ds is not None
        patch = result.patch  # made in the worker from this very mask (fresh)
        self._apply(lambda: ds.doc.set_window(patch) if patch is not None else None)
        self._dirty = self._from_base = False
        self.last_latency_s = time.perf_counter() - req.sent_at
        self._refiner_name = result.refiner_name
        self._say()
        self.refined.emit(result)
        if self._closing:
            self._close()

    def _say(self) -> None:
        """The status: the dots' count and the keys first (a narrow bar cuts the end), then
        what refined and how fast."""
        n = len(self.clicks)
        if not n or not self._refiner_name:
            self.label.setText(HINT)
            return
        self.label.setText(
            f"Click: {n} dot{'s' if n != 1 else ''} — Enter keeps, Esc restores — "
            f"{self._refiner_name} ({self.last_latency_s * 1000:.0f} ms)"
        )

    def _note(self, text: str) -> None:
        """A note in the tool's own status label while it is chosen (for NOTE_MS, then its
        status again), else among the window's messages: beside the label, two cut-off
        texts stood side by side (walk-through 9)."""
        if self.label.isHidden():
            self.session.message.emit(text)
            return
        self.label.setText(text)
        QTimer.singleShot(
            NOTE_MS, self.label, lambda: self.label.full_text() == text and self._say()
        )

    def _apply(self, edit: Callable[[], Rect | None]) -> None:
        """Make ``edit`` (one undo step) the mask of the dots shown now."""
        assert self._ds is not None
        self._applying = True
        try:
            edit()
        finally:
            self._applying = False
        self._steps[self._ds.doc.history.state] = tuple(self.clicks)

    def _on_failed(self, seq: int, message: str) -> None:
        if self._take(seq) is None:
            return
        self._dirty = False  # the next click tries again
        if self._closing:
            self._close()
        self.session.error.emit("Click: the mask could not be refined", message)

    # ------------------------------------------------------------------ wiring
    def attach(self, canvas: Canvas, status_bar: QStatusBar | None = None) -> None:
        """Listen to ``canvas``'s Click tool and show the dots there (and in ``status_bar``
        what refines, while the tool is chosen)."""
        if status_bar is not None:
            status_bar.insertPermanentWidget(0, self.label)
        canvas.toolChanged.connect(lambda name: self.label.setVisible(name == "click"))
        tool = canvas.clicks
        tool.placed.connect(self.click)
        tool.removed.connect(self.remove)
        tool.accepted.connect(self.accept)
        tool.cancelled.connect(self.cancel)
        self.dotsChanged.connect(tool.set_clicks)
        canvas.toolChanged.connect(lambda name: name in KEEPS_SERIES or self.accept())
        canvas.editFinished.connect(self.sync)
        self.session.currentChanged.connect(lambda _stem: self._close())
        self.session.projectChanged.connect(lambda _p: self._close())
