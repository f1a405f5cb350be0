"""One slow call off the GUI thread: ``run_task(owner, fn, on_done, on_error)``.

For short jobs a panel starts now and then (score a new version, compare two versions on
an image, measure a training step, build the demo): a Python thread runs ``fn()``; its
result or error comes back as a queued signal on the GUI thread. A task whose owner was
deleted meanwhile reports nothing. ``remove_folder(path)`` deletes a folder the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)


class Task(QObject):
    _done = Signal(object)
    _failed = Signal(str)

    def __init__(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None],
        name: str,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self._fn, self._on_done, self._on_error = fn, on_done, on_error
        self.name = name
        self.running = False
        # bound slots of this object (which lives on the GUI thread): queued across threads
        self._done.connect(self._finish_done)
        self._failed.connect(self._finish_failed)

    def start(self) -> None:
        self.running = True
        # not a daemon: quitting waits for it (a thread killed inside torch aborts the process)
        threading.Thread(target=self._run, name=f"segapp-{self.name}").start()

    def _run(self) -> None:
        fn, self._fn = self._fn, None
        try:
            outcome = (self._done, fn())
        except Exception as e:  # noqa: BLE001 - reported to the owner
            log.exception("%s failed", self.name)
            outcome = (self._failed, str(e) or type(e).__name__)
        # what ``fn`` holds (often a widget) is let go here, while the owner still holds it:
        # the last reference to a widget dropped on this thread would destroy it here
        del fn
        self._emit(*outcome)

    def _emit(self, signal, value) -> None:
        with contextlib.suppress(RuntimeError):  # the owner (and this task) was deleted
            signal.emit(value)

    @Slot(object)
    def _finish_done(self, result) -> None:
        self._release()[0](result)

    @Slot(str)
    def _finish_failed(self, message: str) -> None:
        self._release()[1](message)

    def _release(self) -> tuple[Callable[[Any], None], Callable[[str], None]]:
        """The callbacks, let go on the GUI thread (the worker thread may drop this task's
        last reference: with them, a widget they hold would be destroyed there)."""
        self.running = False
        self.deleteLater()
        callbacks = self._on_done, self._on_error
        self._on_done = self._on_error = None
        return callbacks


def run_task(
    owner: QObject,
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[str], None],
    name: str = "task",
) -> Task:
    """Run ``fn()`` in a thread; ``on_done(result)`` or ``on_error(message)`` on the GUI thread."""
    task = Task(fn, on_done, on_error, name, owner)
    task.start()
    return task


def remove_folder(path: Path) -> None:
    """Delete a folder off the GUI thread (a run of large checkpoints takes a while).

    The folder is first renamed to a hidden name beside it, so its name is free at once
    (the next run may reuse ``v002``) and nothing lists it meanwhile; a thread deletes it.
    """
    path = Path(path)
    if not path.is_dir():
        return
    trash = path.with_name(f".{path.name}.deleting-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(path, trash)
    except OSError as e:
        log.warning("%s: cannot rename before deleting (%s)", path, e)
        trash = path
    # not a daemon: quitting finishes the deletion
    threading.Thread(
        target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True}, name="segapp-rmtree"
    ).start()
