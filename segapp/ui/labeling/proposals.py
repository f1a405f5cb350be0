"""Model proposals of a :class:`~segapp.ui.labeling.session.LabelSession` (one image or all).

Never silently overwrite corrected work: proposing over a corrected mask (or over hand edits)
asks ``session.confirm`` first; a proposal is one undoable step; "propose all" only writes
images that are still unlabeled and untouched when their result arrives. Only a trained
checkpoint proposes: a preset name (an untrained head: noise) is refused with a hint.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from segapp.core.imageio import ImageReadError, WriteError
from segapp.ml.proposal_refine import proposal_labels
from segapp.ml.versions import proposal_iou
from segapp.ui.labeling.model_panel import NO_TRAINED_MODEL, is_trained_ref
from segapp.ui.labeling.propose_worker import ProposeRequest, model_display_name

if TYPE_CHECKING:
    from segapp.ui.labeling.doc_state import DocState

log = logging.getLogger(__name__)


class PendingProposal(NamedTuple):
    """A proposal asked of the engine and not yet answered."""

    stem: str
    asked_at: float  # time.perf_counter() when asked
    threshold: float


class ProposalsMixin:
    """The proposal half of LabelSession (uses its documents, signals and saving)."""

    def has_user_work(self, ds: DocState) -> bool:
        """Corrected on disk, or edited by hand since loading / the last proposal."""
        if ds.entry.status == "corrected" and ds.entry.has_mask:
            return True
        return ds.doc.dirty and ds.doc.history.state != ds.proposed_state

    def refuse_untrained(self, model_ref: str) -> bool:
        """True, and says how to get a trained model, when ``model_ref`` is none (or a preset)."""
        if is_trained_ref(model_ref):
            return False
        log.info("proposal refused: %r is no trained model", model_ref)
        self.message.emit(NO_TRAINED_MODEL)
        return True

    def prepare_model(self, model_ref: str) -> None:
        """The person chose ``model_ref``: the engine builds it now, not at the first proposal."""
        if self.project is None or not is_trained_ref(model_ref):
            return
        key = (model_ref, self.project.num_classes)
        if key != self._prepared:
            self._prepared = key
            self.engine.prepare(model_ref, self.project.num_classes)

    def propose_current(self, model_ref: str, threshold: float = 0.5) -> bool:
        """Ask the engine for a proposal on the current image with a trained checkpoint folder
        (asks first over corrected work)."""
        ds = self.state
        if ds is None or self.project is None:
            self.message.emit("no image to propose on")
            return False
        if self.refuse_untrained(model_ref):
            return False
        if self.has_user_work(ds) and not self.confirm(
            "Replace the mask?",
            f'Image "{ds.entry.stem}" has a corrected mask. Replace it with the model\'s proposal? '
            "(You can undo it with Ctrl+Z.)",
        ):
            return False
        self._send_proposal(ds, model_ref, threshold)
        return True

    def _send_proposal(
        self, ds: DocState, model_ref: str, threshold: float, auto: bool = False
    ) -> None:
        req = ProposeRequest(
            model_ref,
            self.project.num_classes,
            threshold,
            self.engine.device_request,
            stem=ds.entry.stem,
            image=ds.doc.image,
        )
        rid = self.engine.propose(req)
        self._pending[rid] = PendingProposal(ds.entry.stem, time.perf_counter(), threshold)
        self.proposalBusy.emit(True)
        if auto:  # applied only to the document as it was asked for (see _on_proposal); no
            self._auto_sent[rid] = ds.doc.history.state  # status message: the mask says it
            return
        if not self.engine.ready:
            self.message.emit("proposing… (the model engine is still loading)")
        else:
            self.message.emit(f"proposing {ds.entry.stem}…")

    def propose_on_open(self, model_ref: str, threshold: float = 0.5) -> bool:
        """With ``auto_propose`` on, propose on the current image if nothing was ever drawn,
        proposed or saved for it, or only another model's automatic proposal is shown, still
        untouched (a version made active since proposes again), and ``model_ref`` is a
        trained model; True if asked for.
        The proposal is shown, not written (``DocState.held``): an edit or Mark as corrected
        saves it, as corrected; leaving it untouched writes nothing. One such
        request runs at a time: opening images faster than they are proposed asks for the
        latest only once it is done, and a proposal arriving after the image was left or
        edited is dropped (the image stays unlabeled and is proposed on the next visit)."""
        ds = self.state
        if not self.auto_propose or ds is None or self.project is None or self.batch_running:
            return False
        entry = ds.entry
        fresh = entry.status == "unlabeled" and not entry.has_mask and not entry.mask_error
        if not fresh or ds.doc.dirty or not is_trained_ref(model_ref):
            return False
        if ds.proposed_state is not None and not _replaceable(ds, model_ref):
            return False  # one shown already, by this model or touched since
        if any(pending.stem == entry.stem for pending in self._pending.values()):
            return False
        if self._auto_sent:  # one at a time: this one when the running one is done
            self._auto_next = (model_ref, threshold)
            return False
        self._auto_next = None
        self._send_proposal(ds, model_ref, threshold, auto=True)
        return True

    def _on_proposal(self, rid: int, stem: str, labels, probs, name: str, refine: str) -> None:
        pending = self._pending.pop(rid, None)
        self.proposalBusy.emit(bool(self._pending))
        asked_at = self._auto_sent.pop(rid, None)
        if pending is None or self.project is None:
            return
        if asked_at is not None:
            wanted = self._still_as_asked(stem, asked_at)
            self._auto_continue()
            if not wanted:
                return
        try:
            ds = self.document(stem)
        except ImageReadError as e:
            self.message.emit(f"proposal for {stem} dropped: {e}")
            return
        self._effort_reset(ds.entry)  # the cost is per proposal
        _take_proposal(ds, labels, name, probs, shown_only=asked_at is not None)
        ds.refine, ds.threshold = refine, pending.threshold
        self._emit_entry(stem)
        if asked_at is None:
            took = time.perf_counter() - pending.asked_at
            self.message.emit(f"{stem}: proposed by {name} in {took:.1f} s")

    def _record_proposal_iou(self, ds: DocState, status: str, labels: np.ndarray) -> None:
        """Before a save: how much of the model's proposal the correction kept.

        Stored per image (``entry.proposal_iou``) for ``versions.proposal_stats``; an
        untouched proposal has none yet.
        """
        if status == "proposed":
            ds.entry.proposal_iou = None
        elif ds.proposal is not None and (ds.proposed_by or ds.entry.proposed_by):
            ds.entry.proposal_iou = round(proposal_iou(ds.proposal, labels), 6)

    def _on_proposal_failed(self, rid: int, stem: str, msg: str) -> None:
        self._pending.pop(rid, None)
        self.proposalBusy.emit(bool(self._pending))
        if self._auto_sent.pop(rid, None) is not None:  # no dialog at each image opened
            self.message.emit(f"no proposal for {stem}: {msg}")
            self._auto_continue()
            return
        self.error.emit("The proposal failed", msg)

    def _still_as_asked(self, stem: str, asked_at: int) -> bool:
        """Is ``stem`` still the current image, unlabeled and as it was when proposed on?"""
        ds = self._docs.get(stem)
        return (
            stem == self.current
            and ds is not None
            and ds.entry.status == "unlabeled"
            and ds.doc.history.state == asked_at
            and not ds.doc.in_stroke
        )

    def _auto_continue(self) -> None:
        """The automatic proposal wanted while one ran: for the image shown now."""
        wanted, self._auto_next = self._auto_next, None
        if wanted is not None:
            self.propose_on_open(*wanted)

    def set_threshold(self, threshold: float) -> None:
        """Re-threshold the current proposal in place while it is still untouched (refined
        again, in a thread, as its model refines proposals: ``rethreshold.py``)."""
        ds = self.state
        if ds is None:
            return
        if ds.probs is None or ds.doc.history.state != ds.proposed_state:
            why = ""
            if ds.proposed_state is not None and ds.doc.history.state != ds.proposed_state:
                why = f"; {ds.entry.stem}'s proposal is edited"
            elif ds.proposed_state is not None:  # Propose all keeps no probabilities
                why = f"; {ds.entry.stem}'s proposal kept no probabilities to re-threshold"
            self.message.emit(
                f"threshold {threshold:.2f}: for the next proposals{why} (Propose, Ctrl+P, "
                "proposes at it)"
            )
            return
        if ds.doc.history.redo_count > ds.proposed_redo:  # edits undone back to the proposal
            self.message.emit(
                "threshold not applied: this proposal has edits to redo (Ctrl+Shift+Z); "
                "a new threshold would discard them"
            )
            return
        key = (ds, ds.probs, threshold)
        if ds.refine == "none":
            self._apply_threshold(key, proposal_labels(ds.doc.image, ds.probs, threshold, "none"))
        else:
            self._rethreshold.request(key, ds.doc.image, ds.probs, threshold, ds.refine)

    def _apply_threshold(self, key: tuple[DocState, np.ndarray, float], labels: np.ndarray) -> None:
        """The proposal re-thresholded: replaces it if it is still the untouched proposal."""
        ds, probs, threshold = key
        if (
            self.state is not ds
            or ds.probs is not probs
            or ds.doc.history.state != ds.proposed_state
            or ds.doc.history.redo_count > ds.proposed_redo
        ):
            return  # edited (or undone to it), proposed again, left or closed meanwhile
        ds.doc.undo()
        ds.proposal = labels
        ds.doc.set_labels(labels, as_proposal=True)
        ds.proposed_state = ds.doc.history.state
        ds.proposed_redo = ds.doc.history.redo_count
        ds.threshold = threshold
        if ds.held:  # still only shown
            ds.doc.mark_saved()
        self._emit_entry(ds.entry.stem)

    def propose_all(self, model_ref: str, threshold: float = 0.5) -> int:
        """Propose every unlabeled, readable image in the worker; returns how many."""
        if self.project is None or self._batch_id is not None or self.refuse_untrained(model_ref):
            return 0
        self.save()
        batch = []
        for e in self.project.entries:
            ds = self._docs.get(e.stem)
            if e.status == "unlabeled" and e.error is None and not (ds and ds.doc.dirty):
                batch.append((e.stem, e.image_path))
        if not batch:
            self.message.emit("no unlabeled images left")
            return 0
        req = ProposeRequest(
            model_ref, self.project.num_classes, threshold, self.engine.device_request, batch=batch
        )
        self._batch_errors, self._batch_applied = [], 0
        self._batch_threshold = threshold
        self._batch_id = self.engine.propose_batch(req)
        self.batchRunning.emit(True)
        self.batchProgress.emit(0, len(batch))
        return len(batch)

    def cancel_batch(self) -> None:
        self.engine.cancel()

    @property
    def batch_running(self) -> bool:
        return self._batch_id is not None

    def _on_batch_item(self, rid: int, stem: str, labels, name: str) -> None:
        if rid != self._batch_id or self.project is None:
            return
        entry = self.entry_of(stem)
        if entry.status != "unlabeled":
            return  # someone labeled it meanwhile: never overwrite
        ds = self._docs.get(stem)
        if ds is not None and (ds.doc.dirty or ds.doc.in_stroke):
            return
        self._effort_reset(entry)
        if ds is not None:
            _take_proposal(ds, labels, name)
            ds.threshold = self._batch_threshold
            ok = self._save_state(ds, report=False)
        else:
            try:
                entry.proposed_at = self._batch_threshold
                self.project.write_labels(entry, labels, "proposed", name)
                ok = True
            except WriteError as e:
                self._batch_errors.append(str(e))
                ok = False
        if ok:
            self._batch_applied += 1
        elif ds is not None:
            self._batch_errors.append(f"{stem}: could not be saved (kept in memory)")
        self._emit_entry(stem)

    def _on_batch_item_failed(self, rid: int, stem: str, msg: str) -> None:
        if rid == self._batch_id:
            self._batch_errors.append(f"{stem}: {msg}")

    def _on_batch_finished(self, rid: int, done: int, total: int, cancelled: bool) -> None:
        if rid != self._batch_id:
            return
        self._batch_id = None
        self.batchRunning.emit(False)
        what = "cancelled after" if cancelled else "done:"
        self.message.emit(f"propose all {what} {self._batch_applied} of {total} images proposed")
        if self._batch_errors:
            self.error.emit(
                "Some proposals failed",
                f"{len(self._batch_errors)} problem(s):\n" + "\n".join(self._batch_errors[:10]),
            )


def _replaceable(ds: DocState, model_ref: str) -> bool:
    """``ds`` shows an automatic proposal, unwritten and untouched, of another model than
    ``model_ref`` (the one a newer version, made active since, replaces on the next visit)."""
    untouched = ds.doc.history.state == ds.proposed_state and not ds.doc.history.pending
    return ds.held and untouched and ds.proposed_by != model_display_name(model_ref)


def _take_proposal(ds: DocState, labels, name: str, probs=None, shown_only: bool = False) -> None:
    """``labels`` become ``ds``'s proposal by ``name`` (one undo step). ``shown_only``: an
    automatic proposal, not written until edited or marked corrected (``held``); else one
    asked for, to be saved, also over one that was only shown (the same labels again leave
    the document clean, and the save wrote nothing)."""
    ds.doc.set_labels(labels, as_proposal=True)
    ds.proposed_state, ds.proposed_by = ds.doc.history.state, name
    ds.proposed_redo = ds.doc.history.redo_count
    ds.probs = probs if probs is not None and probs.shape[0] == 1 else None
    ds.proposal = np.array(labels)
    if shown_only:
        ds.doc.mark_saved()
    elif ds.held:
        ds.doc.mark_unsaved()
    ds.held = ds.auto_proposal = shown_only
