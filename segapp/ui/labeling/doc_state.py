"""``DocState``: one visited image's document and what the session knows about it.

Shared by the session and its proposals half (``proposals.py``), which import it from here
rather than from each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from segapp.core.document import MaskDocument
from segapp.core.project import ImageEntry


@dataclass
class DocState:
    """A document and what the session knows about it."""

    doc: MaskDocument
    entry: ImageEntry
    proposed_state: int | None = None  # history state right after the last proposal
    proposed_redo: int = 0  # redo steps then: more later are edits undone back to it
    blank_state: int | None = None  # the state it opened in when it had no mask (unlabeled)
    proposed_by: str | None = None
    threshold: float | None = None  # the binary threshold the last proposal was made at
    probs: np.ndarray | None = None  # the last proposal's probabilities (binary threshold)
    refine: str = "none"  # how the model that made it refines a proposal (proposal_refine)
    proposal: np.ndarray | None = None  # the last proposal's labels (proposal IoU on save)
    unsubscribe: Callable[[], None] | None = None
    display: list[np.ndarray] | None = None  # what the canvas draws (made while loading)
    # an automatic proposal on screen, not written: masks/ holds only what people did or
    # asked for; an edit or Mark as corrected saves it (as corrected)
    held: bool = False
    # the last proposal was such an automatic one: edits that put it back (undo, Esc of a
    # click series) take its mask file away again rather than write it as "proposed"
    auto_proposal: bool = False

    @property
    def nbytes(self) -> int:
        """Memory held: image, labels and display levels."""
        shown = sum(a.nbytes for a in self.display or ())
        return self.doc.image.nbytes + self.doc.labels.nbytes + shown
