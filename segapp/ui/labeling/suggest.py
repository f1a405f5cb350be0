"""Suggest next image (key N): the image to correct next is the one least like every image
corrected so far (and the one on screen), so the first corrections cover the project's
kinds of image (:mod:`segapp.core.diversity`).

Each image's signature is read once per opened project in a worker thread (the first
suggestion waits for them, with its progress in the status bar); an image the person was
sent to and left uncorrected is not suggested again this session.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from segapp.core.diversity import farthest_first, signature
from segapp.core.imageio import read_image
from segapp.ui.labeling.session import LabelSession

PROGRESS_EVERY = 10  # images between progress messages


class _Signals(QObject):
    progress = Signal(int, int, int)  # generation, images read, images to read
    done = Signal(int, object)  # generation, {stem: signature, or None if unreadable}


class _SignatureJob(QRunnable):
    def __init__(self, signals: _Signals, generation: int, items: list) -> None:
        super().__init__()
        self.signals, self.generation, self.items = signals, generation, items
        self.cancelled = False

    def run(self) -> None:
        found = {}
        for i, (stem, path) in enumerate(self.items, 1):
            if self.cancelled:
                return
            try:
                found[stem] = signature(read_image(path))
            except Exception:  # noqa: BLE001 - an unreadable image is never suggested
                found[stem] = None
            if i % PROGRESS_EVERY == 0:
                self.signals.progress.emit(self.generation, i, len(self.items))
        self.signals.done.emit(self.generation, found)


class Suggester(QObject):
    """Finds the next image to correct and selects it in the session."""

    suggested = Signal(str)  # the stem it went to

    def __init__(self, session: LabelSession, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.signatures: dict = {}
        self._unreadable: set[str] = set()
        self._left: set[str] = set()  # suggested, then left uncorrected
        self._last: str | None = None
        self._job: _SignatureJob | None = None
        self._generation = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.progress.connect(self._on_progress)
        self._signals.done.connect(self._on_done)
        session.projectChanged.connect(self._reset)

    def _reset(self, _project=None) -> None:
        self._generation += 1
        if self._job is not None:
            self._job.cancelled = True
            self._job = None
        self.signatures, self._unreadable, self._left, self._last = {}, set(), set(), None

    def suggest(self) -> None:
        """Go to the suggested image; the first time, read the images' signatures first."""
        project = self.session.project
        if project is None or self._job is not None:
            return
        known = self.signatures.keys() | self._unreadable
        todo = [(e.stem, e.image_path) for e in project.entries if e.stem not in known]
        if todo:
            self._job = _SignatureJob(self._signals, self._generation, todo)
            self._pool.start(self._job)
            self.session.message.emit(f"Suggest: comparing {len(todo)} images…")
            return
        self._go()

    def _go(self) -> None:
        current = self.session.current
        if self._last and self._last == current and not self._corrected(current):
            self._left.add(current)  # sent here, not corrected: the person skipped it
        corrected = {s for s in self.signatures if self._corrected(s)}
        centres = [*corrected, *([current] if current and current not in corrected else [])]
        # skipped images are not suggested again (but count as centres once corrected)
        pool = {s: v for s, v in self.signatures.items() if s not in self._left or s in corrected}
        picks = farthest_first(pool, centres, 1)  # never a centre: uncorrected, not on screen
        if not picks:
            self.session.message.emit("Suggest: every other image is corrected or was skipped")
            return
        self._last = stem = picks[0]
        self.session.select(stem)
        self.suggested.emit(stem)
        self.session.message.emit(
            f"Suggested {stem}: the image least like the {len(corrected)} corrected so far"
            + (" and the one you were on" if current and current not in corrected else "")
        )

    def _corrected(self, stem: str) -> bool:
        return self.session.status_of(stem)[0] == "corrected"

    def _on_progress(self, generation: int, done: int, total: int) -> None:
        if generation == self._generation:
            self.session.message.emit(f"Suggest: comparing images… {done}/{total}")

    def _on_done(self, generation: int, found: dict) -> None:
        if generation != self._generation:
            return
        self._job = None
        self._unreadable |= {s for s, v in found.items() if v is None}
        self.signatures.update({s: v for s, v in found.items() if v is not None})
        self._go()

    def shutdown(self) -> None:
        self._reset()
        self._pool.clear()
        self._pool.waitForDone()
