"""The corrected masks' structure depth for the Train form's "auto" resize mode.

Asked for only when the images are large (``recipe.depth_decides``); reading 8 masks of a
12-megapixel project takes about a second, so the masks are read in a thread
(``tasks.run_task``) while the form says so, each mask file once per modification time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject

from segapp.core import structure_scale
from segapp.core.project import ImageEntry, Project
from segapp.ui.tasks import run_task

log = logging.getLogger(__name__)


class MaskDepth:
    """``depth()`` (reads what is not read yet, now) and ``pending()`` (starts the thread);
    ``on_read`` is called on the GUI thread when the thread has read them."""

    def __init__(self, owner: QObject, on_read: Callable[[], None]) -> None:
        self._owner, self._on_read = owner, on_read
        self.project: Project | None = None
        self.entries: list[ImageEntry] = []
        self.cache: dict[tuple[str, int], float | None] = {}  # per mask file and version
        self.task = None

    def set_entries(self, project: Project | None, entries: list[ImageEntry]) -> None:
        self.project, self.entries = project, list(entries)

    def depth(self) -> float | None:
        """The median depth of the sampled masks (``structure_scale.project_depth``)."""
        if self.project is None:
            return None
        return structure_scale.project_depth(self.project, self.entries, cache=self.cache)

    def pending(self) -> bool:
        """Would ``depth`` read masks not read before? Then a thread reads them, and True."""
        if self.project is None or not structure_scale.unread(self.entries, self.cache):
            return False
        if self.task is None:
            project, entries, known = self.project, self.entries, dict(self.cache)

            def read() -> dict[tuple[str, int], float | None]:
                structure_scale.project_depth(project, entries, cache=known)
                return known

            def done(depths: dict[tuple[str, int], float | None]) -> None:
                self.task = None
                if project is self.project:
                    self.cache.update(depths)
                self._on_read()  # another project meanwhile: its masks are read next

            def failed(message: str) -> None:  # a run reads them itself (``depth``)
                self.task = None
                log.warning("reading the corrected masks for their depth: %s", message)

            self.task = run_task(self._owner, read, done, failed, "mask-depth")
        return True
