"""The Mask menu's clean-up operations on the current document, and what they did in words.

Fill holes and Remove islands work on the active class; with background active (a person
who just erased) they work on every class, which is what "remove the specks" means then.
The status bar gets how many holes or islands changed and how many pixels, or why nothing
did (the islands' size is said, as it hides in the toolbar's Clean up menu).
"""

from __future__ import annotations

import cv2
import numpy as np

from segapp.core.document import MaskDocument
from segapp.core.tools import BACKGROUND

NAMES = {
    "fill_holes": "fill holes",
    "remove_islands": "remove islands",
    "grow": "grow 1 px",
    "shrink": "shrink 1 px",
}


def run_cleanup(doc: MaskDocument, op: str, min_px: int, class_name: str) -> str:
    """Apply ``op`` (fill_holes | remove_islands | grow | shrink) as one undo step; the
    status-bar text. ``class_name``: the active class's name."""
    every = doc.active_class == BACKGROUND
    if every and op in ("grow", "shrink"):
        return f"{NAMES[op]}: pick the class to {op} (background is active)"
    what = "every class (background is active)" if every else class_name
    before = doc.labels.copy() if op in ("fill_holes", "remove_islands") else None
    if op == "remove_islands":
        rect = doc.remove_islands(min_px, all_classes=every)
    elif op == "fill_holes":
        rect = doc.fill_holes(all_classes=every)
    else:
        rect = getattr(doc, op)()
    if rect is None:
        if op == "remove_islands":
            return f"remove islands: no piece of {what} is smaller than {min_px} px"
        if op == "fill_holes":
            return f"fill holes: {what} encloses no background"
        return f"{NAMES[op]}: nothing to change"
    if before is None:
        return f"{NAMES[op]}: {what}"
    x, y, w, h = rect
    changed = (doc.labels[y : y + h, x : x + w] != before[y : y + h, x : x + w]).view(np.uint8)
    pieces = cv2.connectedComponents(changed, connectivity=8)[0] - 1
    px = int(np.count_nonzero(changed))
    if op == "remove_islands":
        return f"removed {pieces} island(s) of {what} smaller than {min_px} px ({px} px)"
    return f"filled {pieces} hole(s) of {what} ({px} px)"
