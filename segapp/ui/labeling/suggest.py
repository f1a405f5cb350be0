"""Suggest next image (key N): the image to correct next is the one least like every image
corrected so far (and the one on screen), so the first corrections cover the project's
kinds of image (:mod:`segapp.core.diversity`). Once the project has an active trained
version, its distance is weighted by how unsure that version is of the image
(:mod:`segapp.ml.uncertainty`), so the next corrections go where the model is weakest.

Each image's signature is read once per opened project, and each version's uncertainty once
per image, in a worker thread (the suggestion waits for them, with its progress in the status
bar; once N has been used, a newly active version starts reading at once, :meth:`prepare`,
so the next N need not wait); a version reads the images in a process of its own
(``jobs.uncertainty``: torch never loads in the window's process, and a crash there costs
the reading, not the window). An image the person was sent to and left uncorrected is not
suggested again this session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from segapp.core.diversity import farthest_first, signature
from segapp.core.imageio import read_image
from segapp.ml import uncertainty, versions
from segapp.ml.job_process import JobCancelled, JobProcess
from segapp.ui.labeling.session import LabelSession

PROGRESS_EVERY = 10  # images between progress messages


class _Signals(QObject):
    progress = Signal(int, int, int)  # generation, images read, images to read
    done = Signal(int, object)  # generation, {stem: signature, or None if unreadable}
    scored = Signal(int, str, object)  # generation, version, {stem: uncertainty or None}
    scoreFailed = Signal(int, str, str)  # generation, version, message


def score_in_process(
    process: JobProcess,
    project_root: Path,
    model: Path,
    stems: list[str],
    max_seconds: float,
    progress: Callable[[int, int], None],
) -> dict[str, float]:
    """A version's uncertainty on ``stems`` (``jobs.uncertainty``) in ``process``, for at most
    ``max_seconds``: torch never loads in the window's process."""

    def on_event(event: dict) -> None:
        if event.get("event") == "progress":
            progress(int(event["done"]), int(event["total"]))

    args = {"project": str(project_root), "model": str(model), "stems": stems}
    found, _ = process.run("uncertainty", args | {"max_seconds": max_seconds}, (), on_event)
    return {str(s): float(w) for s, w in found.items()}


class _SignatureJob(QRunnable):
    def __init__(self, signals: _Signals, generation: int, items: list) -> None:
        super().__init__()
        self.signals, self.generation, self.items = signals, generation, items
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

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


class _ScoreJob(QRunnable):
    """A version's uncertainty (:func:`segapp.ml.uncertainty.score_images`) on its
    :func:`~segapp.ml.uncertainty.candidates`."""

    def __init__(self, signals: _Signals, generation: int, project, version, pool, centres):
        super().__init__()
        self.signals, self.generation = signals, generation
        self.project, self.version, self.pool, self.centres = project, version, pool, centres
        self.cancelled = False
        self.process = JobProcess("Suggest's reading of the images")

    def cancel(self) -> None:
        """Any thread: the reading stops (its process ends) and reports nothing."""
        self.cancelled = True
        self.process.kill()

    def run(self) -> None:
        # off the GUI thread: 300 picks among 5,000 images take most of a second
        stems = uncertainty.candidates(self.pool, self.centres)

        def progress(done: int, total: int) -> None:
            if done % PROGRESS_EVERY == 0:
                self.signals.progress.emit(self.generation, done, total)

        # what it had no time for (MAX_SECONDS) weighs the mean of the others
        try:
            found = score_in_process(
                self.process,
                self.project.root,
                self.version.path,
                stems,
                uncertainty.MAX_SECONDS,
                progress,
            )
        except JobCancelled:
            return
        except Exception as e:  # noqa: BLE001 - reported; suggestions go on without it
            if not self.cancelled:
                self.signals.scoreFailed.emit(self.generation, self.version.name, str(e))
            return
        finally:
            self.process.close()
        if not self.cancelled:  # an image it could not read (or had no time for): None
            found = {s: found.get(s) for s in stems}
            self.signals.scored.emit(self.generation, self.version.name, found)


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
        self._job: _SignatureJob | _ScoreJob | None = None
        # version -> {stem: weight or None}, its candidates in the order they were scored
        self.uncertainty: dict[str, dict] = {}
        self._no_scores: set[str] = set()  # versions that could not score
        self._navigate = True  # go to the suggestion when the running job ends (N was pressed)
        self._generation = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.progress.connect(self._on_progress)
        self._signals.done.connect(self._on_done)
        self._signals.scored.connect(self._on_scored)
        self._signals.scoreFailed.connect(self._on_score_failed)
        session.projectChanged.connect(self._reset)

    def _reset(self, _project=None) -> None:
        self._generation += 1
        if self._job is not None:
            self._job.cancel()
            self._job = None
        self.signatures, self._unreadable, self._left, self._last = {}, set(), set(), None
        self.uncertainty, self._no_scores = {}, set()

    def prepare(self, _model: str = "") -> None:
        """A version became active: read the images with it now, ahead of the next N (only in
        a project where N has been used, whose signatures are known)."""
        if self.session.project is None or self._job is not None or not self.signatures:
            return
        _corrected, centres, pool = self._candidates()
        self._navigate = False
        self._weigh(pool, centres)

    def suggest(self) -> None:
        """Go to the suggested image; the first time, read the images' signatures first."""
        project = self.session.project
        if project is None:
            return
        self._navigate = True
        if self._job is not None:  # reading already: it goes there when done
            return
        known = self.signatures.keys() | self._unreadable
        todo = [(e.stem, e.image_path) for e in project.entries if e.stem not in known]
        if todo:
            self._job = _SignatureJob(self._signals, self._generation, todo)
            self._pool.start(self._job)
            self.session.message.emit(f"Suggest: comparing {len(todo)} images…")
            return
        self._go()

    def _candidates(self) -> tuple[set[str], list[str], dict]:
        """(corrected, centres, pool): the pool's images farthest from the centres are
        suggested; a centre never is, nor is an image skipped (sent to and left uncorrected).

        Once images are corrected the centres are those and the one on screen (unless it was
        skipped: the corrected ones still lack its kind). With none corrected yet they are
        every image skipped and the one on screen, so that N tours the project's kinds of
        image (a skipped image fell out of the distances, and N went on in file order)."""
        current = self.session.current
        corrected = {s for s in self.signatures if self._corrected(s)}
        seen = {current} if current else set()
        seen = seen - self._left if corrected else seen | self._left
        centres = [*corrected, *sorted(s for s in seen - corrected if s in self.signatures)]
        keep = set(centres)
        pool = {s: v for s, v in self.signatures.items() if s not in self._left or s in keep}
        return corrected, centres, pool

    def _go(self) -> None:
        current = self.session.current
        if self._last and self._last == current and not self._corrected(current):
            self._left.add(current)  # sent here, not corrected: the person skipped it
        corrected, centres, pool = self._candidates()
        pool, weights, version = self._weigh(pool, centres)
        if pool is None:  # the version is scoring the images first
            return
        picks = farthest_first(pool, centres, 1, weights)  # uncorrected, not on screen
        if not picks:
            self.session.message.emit("Suggest: every other image is corrected or was skipped")
            return
        self._last = stem = picks[0]
        self.session.select(stem)
        self.suggested.emit(stem)
        unsure = version if weights else None
        self.session.message.emit(
            _said(stem, len(corrected), len(centres) - len(corrected), unsure)
        )

    def _weigh(self, pool: dict, centres: list[str]):
        """(pool, weights, version name): the active version's uncertainty on the images it
        scored, the first time the version is asked (an image it did not score, could not
        read or had no time for weighs the mean; in a large project the pool is cut to those
        it scored), or no weights without a version that scores; (None, ...) while it
        scores."""
        project = self.session.project
        version = versions.active_version(project) if project is not None else None
        if version is None or version.name in self._no_scores:
            return pool, None, None
        scored = self.uncertainty.get(version.name)
        if scored is None:
            self._job = _ScoreJob(
                self._signals, self._generation, project, version, dict(pool), list(centres)
            )
            self._pool.start(self._job)
            self.session.message.emit(f"Suggest: finding which images {version.name} is unsure of…")
            return None, None, version.name
        if len(scored) >= uncertainty.MAX_SCORED:  # a large project: its candidates only
            pool = {s: v for s, v in pool.items() if s in scored or s in centres}
        weights = {s: w for s, w in scored.items() if w is not None and s in pool}
        return pool, weights, version.name

    def _corrected(self, stem: str) -> bool:
        return self.session.status_of(stem)[0] == "corrected"

    def _on_progress(self, generation: int, done: int, total: int) -> None:
        if generation == self._generation:
            job = self._job
            what = (
                f"finding what {job.version.name} is unsure of"
                if isinstance(job, _ScoreJob)
                else "comparing images"
            )
            self.session.message.emit(f"Suggest: {what}… {done}/{total}")

    def _on_done(self, generation: int, found: dict) -> None:
        if generation != self._generation:
            return
        self._job = None
        self._unreadable |= {s for s, v in found.items() if v is None}
        self.signatures.update({s: v for s, v in found.items() if v is not None})
        self._go()

    def _on_scored(self, generation: int, version: str, found: dict) -> None:
        if generation != self._generation:
            return
        self._job = None
        self.uncertainty[version] = found
        if self._navigate:
            self._go()

    def _on_score_failed(self, generation: int, version: str, message: str) -> None:
        if generation != self._generation:
            return
        self._job = None
        self._no_scores.add(version)
        self.session.message.emit(f"Suggest: {version} could not score images ({message})")
        if self._navigate:
            self._go()

    def shutdown(self) -> None:
        self._reset()
        self._pool.clear()
        self._pool.waitForDone()


def _said(stem: str, corrected: int, left: int, unsure: str | None) -> str:
    """The status line of a suggestion: unlike what (the corrected images and the ``left``
    uncorrected ones seen: skipped, or on screen), and whether ``unsure`` (a version) is."""
    unlike = [f"the {corrected} corrected so far"] if corrected else []
    if left:
        unlike.append("the one you were on" if left == 1 else f"the {left} you saw and left")
    if not unlike:
        return f"Suggested {stem}: an image to start with"
    lead = "unlike" if unsure else "the image least like"
    return f"Suggested {stem}: {lead} {' and '.join(unlike)}" + (
        f", and {unsure} is unsure of it" if unsure else ""
    )
