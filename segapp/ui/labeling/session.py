"""The labeling session: the open project, one MaskDocument per visited image, saving, proposals.

This is the window's controller: widgets call its methods and listen to its signals; it
calls ``core`` (Project, MaskDocument) and hands model work to the :class:`ProposeEngine`.

Never lose work:

- each visited image keeps its ``MaskDocument`` (with its undo history) in a small LRU
  cache keyed by stem; a document with unsaved edits is never dropped from it;
- switching images and closing save (``Project.write_labels`` writes atomically); a failed
  write is reported (``error`` signal) and the edit stays in memory, still dirty;
- an image is read in another thread; one that takes longer than ``load_wait_s`` (a far
  jump to a large image) shows as ``loading`` (no document yet) until ``documentReady``;
- a proposal is one undoable step; proposing over corrected work asks first (``confirm``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal

from segapp.core.document import MaskDocument
from segapp.core.imageio import ImageReadError, SegappError, WriteError
from segapp.core.lock import ProjectLock, ProjectLockedError, open_for_writing
from segapp.core.project import ImageEntry, Project
from segapp.ui.labeling.cleanup_ops import run_cleanup
from segapp.ui.labeling.doc_state import DocState
from segapp.ui.labeling.effort import EffortMixin
from segapp.ui.labeling.paint_state import PaintStateMixin
from segapp.ui.labeling.prefetch import ImagePrefetcher, ReadResult, read_entry
from segapp.ui.labeling.proposals import PendingProposal, ProposalsMixin
from segapp.ui.labeling.propose_worker import ProposeEngine
from segapp.ui.labeling.rethreshold import Rethreshold
from segapp.ui.labeling.saving import SavingMixin

log = logging.getLogger(__name__)

CACHE_SIZE = 12  # documents kept (with their undo history) besides unsaved ones
CACHE_BYTES = 1_500_000_000  # ... and at most this much image + mask memory (large images)
LOAD_WAIT_S = 0.04  # a switch waits this long for the image, then shows a placeholder


def _ask_nothing(title: str, text: str) -> bool:
    return True


class LabelSession(SavingMixin, ProposalsMixin, PaintStateMixin, EffortMixin, QObject):
    """Project + per-image documents + saving + proposals, without widgets."""

    projectChanged = Signal(object)  # Project | None
    currentChanged = Signal(str)  # stem ("" when none)
    documentReady = Signal(str)  # the current image, read in the background, is shown now
    _loaded = Signal(str, object)  # stem, Future[ReadResult] (from the reading thread)
    documentEdited = Signal()  # the current document's labels changed
    entryChanged = Signal(str)  # an entry's status / error / dirty mark changed
    classesChanged = Signal()
    message = Signal(str)  # a status-bar note
    error = Signal(str, str)  # title, text: shown to the person
    proposalBusy = Signal(bool)
    batchProgress = Signal(int, int)  # done, total
    batchRunning = Signal(bool)

    def __init__(self, engine: ProposeEngine | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.project: Project | None = None
        self.current: str | None = None
        self._docs: OrderedDict[str, DocState] = OrderedDict()
        self.saved_elsewhere = {}
        self._entries: dict[str, ImageEntry] = {}
        self._shown: dict[str, tuple[str, bool]] = {}  # what the list shows, per stem
        self.engine = engine or ProposeEngine(parent=self)
        self.engine.proposalReady.connect(self._on_proposal)
        self.engine.proposalFailed.connect(self._on_proposal_failed)
        self.engine.batchItem.connect(self._on_batch_item)
        self.engine.batchItemFailed.connect(self._on_batch_item_failed)
        self.engine.batchProgress.connect(lambda _id, d, t: self.batchProgress.emit(d, t))
        self.engine.batchFinished.connect(self._on_batch_finished)
        self.engine.message.connect(self.message)
        # asks the person a yes/no question; the window installs a dialog, tests a stub
        self.confirm: Callable[[str, str], bool] = _ask_nothing
        self.active_class = 1
        self.protect_others = False
        self._pending: dict[int, PendingProposal] = {}  # asked of the engine, by request id
        self.auto_propose = False  # propose_on_open: the window turns it on (its setting)
        self._auto_sent: dict[int, int] = {}  # automatic request -> history state it was for
        self._auto_next: tuple[str, float] | None = None  # (model, threshold) wanted meanwhile
        self._batch_id: int | None = None
        self._batch_errors: list[str] = []
        self._batch_threshold: float | None = None
        self._batch_applied = 0
        self._prepared: tuple[str, int] | None = None  # the model the engine was asked to build
        self.prefetcher = ImagePrefetcher()
        self._lock = ProjectLock(".")  # the open project's (none held yet)
        self.loading: str | None = None  # the current image while it is read (no document)
        self.load_wait_s: float | None = LOAD_WAIT_S  # None: switching waits for the image
        self._loaded.connect(self._on_loaded, Qt.ConnectionType.QueuedConnection)
        self._init_effort()  # what each image costs (effort.py)
        self._rethreshold = Rethreshold(
            self._apply_threshold, lambda m: self.error.emit("Cannot refine the proposal", m), self
        )

    # ------------------------------------------------------------------ project
    def open_project(self, path: str | Path, start: str | None = None) -> bool:
        """Open a folder (project, images/+masks/, or bare images) on image ``start`` if it
        has one (else the first not corrected); the current one is saved. The project is
        locked while open: a second window on it is told so (core/lock.py)."""
        same = self.project is not None and self.project.root == Path(path).resolve()
        if same and not self.close_project():
            return False
        try:
            project, lock = open_for_writing(path)
        except SegappError as e:
            locked = isinstance(e, ProjectLockedError)
            self.error.emit("Open elsewhere" if locked else "Cannot open the folder", str(e))
            return False
        if not project.entries or not self.close_project():
            lock.release()
            if not project.entries:
                self.error.emit(
                    "No images", f"{project.images_dir} holds no PNG, JPEG, TIFF or BMP images."
                )
            return False
        self._lock = lock
        recovered = project.recovered  # the fold's save replaces the damaged file
        known = project.file_stamp is not None  # it had a segapp.json (the fold may write one)
        self._fold_journal(project)
        self.project = project
        self._entries = {e.stem: e for e in project.entries}
        self.projectChanged.emit(project)
        found = len(project.adopted)
        found = f"; {found} mask(s) found without a status taken as corrected" if found else ""
        self.message.emit(f"opened {project.root} ({len(project.entries)} images{found})")
        first = next((e for e in project.entries if e.status != "corrected"), project.entries[0])
        self.select(start if start in self._entries else first.stem)
        if recovered:
            self.error.emit("Project file restored from its backup", recovered)
        if project.adopted and known:  # added since, by hand or another tool: said to stay
            self.error.emit("Masks taken as corrected", _adopted_note(project))
        if lock.unwritable:  # said now, not at the first failed autosave
            self.error.emit(
                "Read-only folder",
                f"{project.root} cannot be written ({lock.unwritable}): masks edited here "
                "cannot be saved. Copy the folder somewhere writable and open the copy, or "
                "use File > Export… to keep its corrected masks elsewhere.",
            )
        return True

    def new_project(self, folder: str | Path, class_names: list[str] | None = None) -> bool:
        """Make ``folder`` (of images) a project: segapp.json and masks/ beside the images.

        ``class_names``: None or fewer than 3 names = binary; else the classes, first is
        background. The images are not touched. An existing project is just opened.
        """
        from segapp.core.classes import binary_classes, multiclass

        if self.project is not None and self.project.root == Path(folder).resolve():
            return self.open_project(folder)  # open here already
        try:
            project, lock = open_for_writing(folder)
            with lock:  # released here: open_project takes it again
                if not project.meta_path.exists():
                    if class_names and len(class_names) >= 3:
                        project.classes = multiclass(class_names)
                    else:
                        project.classes = binary_classes()
                        if class_names and len(class_names) == 2:
                            for c, n in zip(project.classes, class_names, strict=True):
                                c.name = n
                    project.save()
        except SegappError as e:
            self.error.emit("Cannot create the project", str(e))
            return False
        return self.open_project(project.root)

    def close_project(self) -> bool:
        """Save everything; if something cannot be saved, ask before dropping it."""
        if self.project is None:
            return True
        self._effort_leave()
        # one question that says why, not a notice hidden behind it (save_all's own)
        failed = self._save_quietly(list(self._docs))
        copies = self.copies_of(failed) if failed else None
        keep = (
            f"A copy of each is in {copies}."
            if copies
            else "No keeps them open: File > Save unsaved masks to… writes them to another folder."
        )
        if failed and not self.confirm(
            "Unsaved edits",
            f"{len(failed)} image(s) could not be saved ({', '.join(failed[:5])}): "
            f"{self.last_save_error}\n\nClose anyway and lose these edits? {keep}",
        ):
            self._effort_open(self.current)
            return False
        self._fold_journal(self.project)
        for ds in self._docs.values():
            if ds.unsubscribe:
                ds.unsubscribe()
        self._docs.clear()
        self.saved_elsewhere = {}
        self.prefetcher.clear()
        self.loading = None
        self._pending.clear()
        self._auto_sent.clear()
        self._auto_next = None
        self._rethreshold.cancel()
        self._shown.clear()
        if self._batch_id is not None:  # results for this project are dropped from now on
            self.engine.cancel()
            self._batch_id = None
            self.batchRunning.emit(False)
        self.proposalBusy.emit(False)
        self._lock.release()
        self.project = None
        self._entries = {}
        self.current = None
        self.projectChanged.emit(None)
        self.currentChanged.emit("")
        return True

    @staticmethod
    def _fold_journal(project: Project) -> None:
        """Statuses saved since the last full write go into segapp.json (on open and close);
        a segapp.json recovered from its backup is rewritten (the damaged one kept aside)."""
        if project.journal_path.exists() or project.recovered:
            try:
                project.save()
            except WriteError as e:  # the journal stays and is replayed next time
                log.warning("cannot fold the status journal into segapp.json: %s", e)

    # ------------------------------------------------------------------ documents
    @property
    def state(self) -> DocState | None:
        return self._docs.get(self.current) if self.current else None

    def proposal_threshold(self) -> float | None:
        """The threshold the current image's last proposal was made at (None: none was, or
        it is not known: a mask opened as "proposed" that no threshold was saved with)."""
        ds = self.state
        if ds is None:
            return None
        if ds.proposed_state is not None:
            return ds.threshold
        return ds.entry.proposed_at if ds.entry.status == "proposed" else None  # saved one

    @property
    def doc(self) -> MaskDocument | None:
        ds = self.state
        return ds.doc if ds else None

    @property
    def entry(self) -> ImageEntry | None:
        if self.project is None or self.current is None:
            return None
        return self.entry_of(self.current)

    def cached(self, stem: str) -> DocState | None:
        return self._docs.get(stem)

    def _make_state(self, entry: ImageEntry, read: ReadResult) -> DocState:
        """The document of what was read (ImageReadError: entry.error is set)."""
        if read.image_error is not None:
            entry.error = str(read.image_error)
            raise read.image_error
        entry.error = None
        had = entry.mask_error
        entry.mask_error = None if read.mask_error is None else str(read.mask_error)
        if entry.mask_error != had:  # the image list marks it
            self.entryChanged.emit(entry.stem)
        if read.mask_error is not None:
            self.error.emit(
                "The mask cannot be used",
                f"{read.mask_error}\n\nThe image opens with an empty mask; the file is replaced "
                "only if you edit and save.",
            )
        labels = read.labels
        doc = MaskDocument(read.image, labels)
        ds = DocState(doc, entry, display=read.display)
        if entry.status == "unlabeled" and labels is None:  # undone back to this: unlabeled
            ds.blank_state = doc.history.state
        if entry.status == "proposed" and labels is not None:  # e.g. from "propose all"
            ds.proposal = labels.copy()  # (its IoU with the correction is recorded on save)
        ds.unsubscribe = doc.on_change(lambda rect, stem=entry.stem: self._on_doc_change(stem))
        return ds

    def document(self, stem: str) -> DocState:
        """The cached document of ``stem``, loaded if needed (LRU; unsaved ones stay)."""
        assert self.project is not None
        if stem in self._docs:
            self._docs.move_to_end(stem)
            return self._docs[stem]
        entry = self.entry_of(stem)
        prefetched = self.prefetcher.take_future(entry.image_path)
        return self._keep(
            stem, self._make_state(entry, read_entry(self.project, entry, prefetched))
        )

    def _keep(self, stem: str, ds: DocState) -> DocState:
        self._docs[stem] = ds
        self._evict()
        return ds

    def _evict(self) -> None:
        """Drop the least recently used saved documents beyond CACHE_SIZE / CACHE_BYTES."""
        extra = len(self._docs) - CACHE_SIZE
        nbytes = sum(ds.nbytes for ds in self._docs.values())
        for stem in list(self._docs):
            if extra <= 0 and nbytes <= CACHE_BYTES:
                break
            ds = self._docs[stem]
            if stem == self.current or ds.doc.dirty or ds.doc.in_stroke:
                continue
            if ds.unsubscribe:
                ds.unsubscribe()
            del self._docs[stem]
            extra -= 1
            nbytes -= ds.nbytes

    def select(self, stem: str) -> bool:
        """Show another image; the current one is saved first (autosave).

        An image not in memory is read in a thread; if that takes more than ``load_wait_s``
        the switch returns at once with ``loading`` set (no document yet), and
        ``documentReady`` follows.
        """
        if self.project is None or stem == self.current:
            return False
        self._effort_leave()
        self.save()
        self.current, self.loading = stem, None
        self._effort_open(stem)
        self._forget_if_gone(stem)
        if stem in self._docs:
            self._apply_brush_state(self.document(stem).doc)
        else:
            job = self.prefetcher.load(self.project, self.entry_of(stem))
            try:
                read = job.result(timeout=self.load_wait_s)
            except FutureTimeout:
                self.loading = stem
                job.add_done_callback(lambda fut, s=stem: self._loaded.emit(s, fut))
            else:
                self._adopt(stem, read)
        self.currentChanged.emit(stem)
        self._prefetch_around(stem)
        return True

    def _forget_if_gone(self, stem: str) -> None:
        """Drop the kept document of an image deleted or moved since (unless it holds unsaved
        edits), so that showing it reads the file again and says it is gone."""
        ds = self._docs.get(stem)
        if ds is None or ds.doc.dirty or ds.entry.image_path.is_file():
            return
        if ds.unsubscribe:
            ds.unsubscribe()
        del self._docs[stem]

    def _adopt(self, stem: str, read: ReadResult) -> None:
        had_error = self.entry_of(stem).error is not None
        try:
            ds = self._keep(stem, self._make_state(self.entry_of(stem), read))
        except ImageReadError:  # (entry.error holds why)
            self._emit_entry(stem)
            self.message.emit(self.why_unreadable(stem))
            return
        self._apply_brush_state(ds.doc)
        if had_error:
            self._emit_entry(stem)

    def _on_loaded(self, stem: str, job: Future) -> None:
        if self.project is None or stem != self.loading or stem != self.current:
            return  # the person went on meanwhile
        self.loading = None
        self._adopt(stem, job.result())
        self.documentReady.emit(stem)

    def _prefetch_around(self, stem: str) -> None:
        """Decode the next and previous images (D / A) in the background."""
        entries = self.project.entries if self.project is not None else []
        i = next((k for k, e in enumerate(entries) if e.stem == stem), None)
        if i is None:
            return
        near = [entries[k] for k in (i + 1, i - 1) if 0 <= k < len(entries)]
        self.prefetcher.prefetch(
            e.image_path
            for e in near
            if e.stem not in self._docs and e.stem != self.loading and e.error is None
        )

    def _on_doc_change(self, stem: str) -> None:
        if stem == self.current:
            self.documentEdited.emit()
        if self._shown.get(stem) != self.status_of(stem):  # not on every brush move
            self._emit_entry(stem)

    def _emit_entry(self, stem: str) -> None:
        if self.project is not None:
            self._shown[stem] = self.status_of(stem)
        self.entryChanged.emit(stem)

    def entry_of(self, stem: str) -> ImageEntry:
        """The project's entry for ``stem`` (KeyError if there is none)."""
        return self._entries[stem]

    def why_unreadable(self, stem: str) -> str:
        """The note on an image that cannot be read ("cannot show STEM: why"), else ""."""
        entry = self._entries.get(stem)
        return f"cannot show {stem}: {entry.error}" if entry and entry.error else ""

    # ------------------------------------------------------------------ editing
    def undo(self) -> None:
        if self.doc:
            self.doc.undo()

    def redo(self) -> None:
        if self.doc:
            self.doc.redo()

    def cleanup(self, op: str, arg: int = 0) -> None:
        """fill_holes | remove_islands (arg = min px) | grow | shrink on the current mask."""
        doc = self.doc
        if doc is None or self.project is None:
            return
        classes = self.project.classes
        name = classes[doc.active_class].name if doc.active_class < len(classes) else "class"
        self.message.emit(run_cleanup(doc, op, arg, name))


def _adopted_note(project: Project) -> str:
    names = ", ".join(project.adopted[:5]) + (" …" if len(project.adopted) > 5 else "")
    return (
        f"{len(project.adopted)} mask(s) appeared in {project.masks_dir.name}/ without a status "
        f"of segapp's ({names}): they count as corrected, so the next round trains on them. "
        "Open any that may be wrong and correct it (or remove its file)."
    )
