"""One image of a project (:class:`ImageEntry`) and its status record as ``segapp.json`` and
the journal hold it: written whole per image, read back field by field (a journal line is
not checked on reading, so a bad value there is dropped, not raised)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from segapp.core.effort import Effort

log = logging.getLogger(__name__)


@dataclass
class ImageEntry:
    """One image of a project and what is known of its mask."""

    stem: str
    image_path: Path
    mask_path: Path
    status: str = "unlabeled"
    proposed_by: str | None = None
    proposal_iou: float | None = None
    proposed_at: float | None = None  # the binary threshold a saved proposal was made at
    error: str | None = None
    effort: Effort | None = None  # what correcting it cost (None: nothing recorded)
    mask_error: str | None = None  # why its mask file could not be used, once read (not saved)

    @property
    def has_mask(self) -> bool:
        return self.mask_path.exists()


def journal_record(entry: ImageEntry, status: str, by: str | None) -> dict:
    """An image's whole status record, as a journal line holds it."""
    record = {"status": status, "proposed_by": by, "proposal_iou": entry.proposal_iou}
    if status == "proposed" and entry.proposed_at is not None:
        record["proposed_at"] = entry.proposed_at
    return record | ({"effort": entry.effort.to_dict()} if entry.effort is not None else {})


def meta_record(entry: ImageEntry) -> dict:
    """An image's record in ``segapp.json``: the journal's, without the fields it lacks."""
    record = journal_record(entry, entry.status, entry.proposed_by)
    return {k: v for k, v in record.items() if v not in (None, "")}


def read_threshold(value: object) -> float | None:
    """A record's ``proposed_at``: a threshold between 0 and 1, else None (a journal line is
    not checked on reading; segapp.json's type is)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1
    return float(value) if ok else None


def read_effort(record: dict, stem: str) -> Effort | None:
    """The record's effort (segapp.json's is checked on reading; a bad journal line's is
    dropped with a warning)."""
    try:
        return None if record.get("effort") is None else Effort.from_dict(record["effort"])
    except ValueError as e:
        log.warning("image %r: %s; its effort record is dropped", stem, e)
        return None
