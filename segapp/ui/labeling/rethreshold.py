"""Re-threshold a refined proposal off the GUI thread, the latest request winning.

Moving the threshold slider over a proposal whose model refines it (``proposal_refine``)
runs GrabCut again: 80 ms on a photo, ~250 ms on a 4096² image, once per slider step. It
runs here in a thread (``tasks.run_task``; OpenCV lets the GIL go), one at a time: the
requests made meanwhile are coalesced into the latest, and a result that a newer request
overtook is dropped rather than shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject

from segapp.ml.proposal_refine import proposal_labels
from segapp.ui.tasks import run_task


class Rethreshold(QObject):
    """``request(key, image, probs, threshold, method)`` → ``apply(key, labels)`` on the GUI
    thread, for the latest request only; ``failed(message)`` if the refinement raises."""

    def __init__(
        self,
        apply: Callable[[Any, np.ndarray], None],
        failed: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._apply, self._failed = apply, failed
        self._running = False
        self._next: tuple | None = None  # the latest request not started yet
        self._generation = object()  # of the running request; a new one outdates its result

    @property
    def busy(self) -> bool:
        return self._running or self._next is not None

    def request(
        self, key: Any, image: np.ndarray, probs: np.ndarray, threshold: float, method: str
    ) -> None:
        """Labels of ``probs`` at ``threshold``, refined by ``method``, for ``key``."""
        self._next = (key, image, probs, threshold, method)
        if not self._running:
            self._start()

    def cancel(self) -> None:
        """Drop what is queued and the result of what runs (a closed project)."""
        self._next = None
        self._generation = object()

    def _start(self) -> None:
        key, image, probs, threshold, method = self._next
        self._next = None
        self._running = True
        generation = self._generation = object()

        def done(labels: np.ndarray) -> None:
            latest = generation is self._generation and self._next is None
            self._finish()
            if latest:
                self._apply(key, labels)

        def error(message: str) -> None:
            latest = generation is self._generation
            self._finish()
            if latest:
                self._failed(message)

        run_task(
            self,
            lambda: proposal_labels(image, probs, threshold, method),
            done,
            error,
            "rethreshold",
        )

    def _finish(self) -> None:
        self._running = False
        if self._next is not None:
            self._start()
