"""Progress of an import or export, for the window's progress dialog (and its Cancel).

:func:`run.run_import`/:func:`run.run_export` install a callback for the thread that runs
them; the sink and the exporters call :func:`tick` after each image. A callback that raises
:class:`Cancelled` stops the work there.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

Progress = Callable[[int], None]  # called with the number of images done so far
_CURRENT: contextvars.ContextVar[tuple[Progress, list[int]] | None] = contextvars.ContextVar(
    "segapp_interop_progress", default=None
)


class Cancelled(Exception):
    """Raised by a progress callback to stop an import or export (not a SegappError: no
    single pair swallows it)."""


def tick() -> None:
    """One more image done."""
    current = _CURRENT.get()
    if current is not None:
        callback, count = current
        count[0] += 1
        callback(count[0])


@contextlib.contextmanager
def reporting(progress: Progress | None) -> Iterator[None]:
    """Calls to :func:`tick` in this thread go to ``progress`` meanwhile."""
    token = _CURRENT.set((progress, [0]) if progress else None)
    try:
        yield
    finally:
        _CURRENT.reset(token)
