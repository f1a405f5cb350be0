"""What an image's mask is saved as, and saving: the status an edit gives it (corrected,
still the proposal, or unlabeled again when every edit was undone), the current image's
save, and the saves retried after a failure.

The saving half of :class:`~segapp.ui.labeling.session.LabelSession` (uses its project,
documents and signals). A failed write is reported and the edit stays in memory, dirty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segapp.core.imageio import WriteError, write_mask
from segapp.ui.labeling.doc_state import DocState


class SavingMixin:
    """Statuses of edited documents and the writes of their masks."""

    last_save_error = ""  # why the latest failed write failed (the close question says it)
    saved_elsewhere: dict[str, tuple[Path, int]]  # stem: (folder, history state) of a copy

    def status_of(self, stem: str) -> tuple[str, bool]:
        """(status, unsaved): what the list shows; unsaved edits show the status they will get."""
        assert self.project is not None
        ds = self._docs.get(stem)
        if ds is not None and ds.doc.dirty:
            return self._status_for(ds)[0], True
        if ds is not None and ds.held:
            return "proposed", False  # shown, not written (an automatic proposal)
        return self.entry_of(stem).status, False

    @staticmethod
    def _status_for(ds: DocState) -> tuple[str, str | None]:
        history = ds.doc.history
        if ds.blank_state is not None and history.state == ds.blank_state and not history.pending:
            return "unlabeled", None  # every edit undone: no mask, not an empty "corrected" one
        back = ds.proposed_state is not None and history.state == ds.proposed_state
        if back and history.pending:  # a brush drag on the proposal, not committed yet
            return "corrected", ds.proposed_by
        back = back or (
            ds.proposed_state is not None
            and ds.proposal is not None
            and not history.pending
            and np.array_equal(ds.doc.labels, ds.proposal)
        )  # or edits that put the proposal back (Esc of a click series): not corrected
        if back and ds.auto_proposal:  # shown, never asked for: no file (walk-through 10)
            return "unlabeled", None
        if back:
            return "proposed", ds.proposed_by
        return "corrected", ds.proposed_by  # keeps which model the correction started from

    def _save_state(self, ds: DocState, report: bool = True, as_corrected: bool = False) -> bool:
        """Write ``ds``'s mask if it changed (``as_corrected``: even unchanged, as corrected)."""
        assert self.project is not None
        doc = ds.doc
        if not doc.dirty and not as_corrected:
            return True
        doc.end_stroke()
        status, by = ("corrected", ds.proposed_by) if as_corrected else self._status_for(ds)
        labels = np.array(doc.labels)
        self._record_proposal_iou(ds, status, labels)
        ds.entry.proposed_at = ds.threshold if status == "proposed" else None
        self._effort_saving(ds.entry, status)
        try:
            if status == "unlabeled":
                self.project.clear_labels(ds.entry)
            else:
                self.project.write_labels(ds.entry, labels, status, by)
        except WriteError as e:
            self.last_save_error = str(e)
            if report:
                self.error.emit(
                    "Could not save the mask",
                    f"{e}\n\nYour edits to {ds.entry.stem} are kept in memory; fix the "
                    "problem (above) and save again (Ctrl+S), or keep a copy in another folder "
                    "(File > Save unsaved masks to…).",
                )
            self._emit_entry(ds.entry.stem)
            return False
        doc.mark_saved()
        # an automatic proposal put back is shown again, not written
        ds.held = (
            ds.auto_proposal
            and status == "unlabeled"
            and ds.proposal is not None
            and np.array_equal(labels, ds.proposal)
        )
        if as_corrected:  # an undo back to the proposal no longer makes it "proposed"
            ds.proposed_state = None
        self._emit_entry(ds.entry.stem)
        if ds.entry.stem == self.current:
            self.documentEdited.emit()
        return True

    def mark_corrected(self) -> bool:
        """The mask on screen is right as it is (a proposal, or no object at all): saved as
        corrected, so the next round trains on it. False if the write failed."""
        ds = self.state
        if ds is None or self.project is None:
            return False
        if ds.entry.status == "corrected" and ds.entry.has_mask and not ds.doc.dirty:
            self.message.emit(f"{ds.entry.stem} is corrected already")
            return True
        ok = self._save_state(ds, as_corrected=True)
        if ok:
            empty = not ds.doc.labels.any()
            what = " (no object: background only)" if empty else ""
            self.message.emit(f"{ds.entry.stem} marked corrected{what}")
        return ok

    def save(self, *, report: bool = True) -> bool:
        """Save the current image's mask if it changed. False if the write failed
        (``report``: the failure is shown in a dialog)."""
        ds = self.state
        if ds is None or not ds.doc.dirty:
            return True
        ok = self._save_state(ds, report)
        if ok and ds.held:  # the automatic proposal is back: shown, not written
            self.message.emit(f"{ds.entry.stem}: the proposal is back, shown and not saved")
        elif ok and ds.entry.status == "unlabeled":  # every edit undone: the mask went
            self.message.emit(f"{ds.entry.stem} is unlabeled again (its mask file removed)")
        elif ok:
            self.message.emit(f"saved {ds.entry.mask_path.name}")
        return ok

    def save_everything(self) -> bool:
        """Save (Ctrl+S): this image's mask, then every other one still unsaved because its
        save failed before (the folder was read-only, the disk full: fixed since, one Save
        writes them all). False if any write failed."""
        ds = self.state
        ok = self.save()
        retried = [stem for stem in self.unsaved if ds is None or stem != ds.entry.stem]
        if not retried:
            return ok
        failed = self._save_quietly(retried)
        written = len(retried) - len(failed)
        if written:
            self.message.emit(f"saved {written} more mask(s) that could not be saved before")
        if failed and ok:
            self._report_unsaved(failed)
        elif failed:  # this image's dialog is up already
            self.message.emit(f"{_could_not_write(failed)} either")
        return ok and not failed

    def save_all(self) -> list[str]:
        """Save every unsaved document; returns the stems that could not be saved."""
        failed = self._save_quietly(list(self._docs))
        if failed:
            self._report_unsaved(failed)
        return failed

    def _save_quietly(self, stems: list[str]) -> list[str]:
        """Save these documents without a dialog each; the stems that could not be."""
        return [stem for stem in stems if not self._save_state(self._docs[stem], report=False)]

    def _report_unsaved(self, failed: list[str]) -> None:
        self.error.emit("Could not save", f"{_could_not_write(failed)}; they are kept in memory.")

    def save_unsaved_to(self, folder: Path) -> list[str]:
        """Write every unsaved mask as ``folder/STEM.png`` (the project's pixel values), for
        edits the project's own folder cannot take (read-only, unplugged, full). They stay
        unsaved in the project. Returns the stems written; WriteError if one cannot be."""
        assert self.project is not None
        folder = Path(folder)
        written = []
        for stem in self.unsaved:
            doc = self._docs[stem].doc
            doc.end_stroke()
            write_mask(folder / f"{stem}.png", self.project.mask_from_labels(doc.labels))
            self.saved_elsewhere[stem] = (folder, doc.history.state)
            written.append(stem)
        return written

    def copies_of(self, stems: list[str]) -> Path | None:
        """The folder holding a copy of each of these masks as they are now, if one does."""
        copies = {self.saved_elsewhere.get(s) for s in stems}
        if len(copies) != 1 or None in copies:
            return None
        folder, _ = next(iter(copies))
        now = {(folder, self._docs[s].doc.history.state) for s in stems}
        return folder if now == copies else None

    @property
    def unsaved(self) -> list[str]:
        return [s for s, ds in self._docs.items() if ds.doc.dirty]


def _could_not_write(stems: list[str]) -> str:
    return f"{len(stems)} mask(s) could not be written ({', '.join(stems[:5])})"
