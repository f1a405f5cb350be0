"""One slow call off the GUI thread: ``run_task(owner, fn, on_done, on_error)``.

For short jobs a panel starts now and then (score a new version, compare two versions on
an image, measure a training step, build the demo): a Python thread runs ``fn()``; its
result or error comes back as a queued signal on the GUI thread. A task whose owner was
deleted meanwhile reports nothing. ``remove_folder(path)`` deletes a folder the same way.

The thread touches no object of its owner's: it reports to one relay that lives on the GUI
thread as long as the program does, and the relay, on the GUI thread, looks up the task
and calls back only if its owner still exists. (A task that was the owner's child, which
the thread signalled, could be deleted with its owner while the thread signalled it.)
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)


class Task:
    """A call in flight: ``running`` until its callback ran or its owner was found gone."""

    def __init__(
        self,
        owner: QObject,
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None],
        name: str,
    ) -> None:
        self.name = name
        self.running = True
        self.owner: QObject | None = owner
        self.on_done: Callable[[Any], None] | None = on_done
        self.on_error: Callable[[str], None] | None = on_error


class _Relay(QObject):
    """Lives on the GUI thread; the threads' reports reach it queued."""

    report = Signal(object)  # (task key, succeeded, result or message)

    def __init__(self) -> None:
        super().__init__()
        self.tasks: dict[int, Task] = {}  # touched on the GUI thread only
        self.report.connect(self._deliver)

    @Slot(object)
    def _deliver(self, outcome: tuple[int, bool, Any]) -> None:
        key, ok, value = outcome
        task = self.tasks.pop(key, None)
        if task is None:
            return
        owner, on_done, on_error = task.owner, task.on_done, task.on_error
        task.running = False
        task.owner = task.on_done = task.on_error = None
        if owner is None or not shiboken6.isValid(owner):
            log.debug("%s: its owner is gone, result dropped", task.name)
            return
        (on_done if ok else on_error)(value)


_relay: _Relay | None = None
_keys = itertools.count()


def _the_relay() -> _Relay:
    global _relay
    if _relay is None or not shiboken6.isValid(_relay):
        _relay = _Relay()  # made on the GUI thread, by the first run_task
    return _relay


def _run(box: list[Callable[[], Any]], key: int, relay: _Relay, name: str) -> None:
    fn = box.pop()  # only this frame holds it (the Thread keeps its args to the end)
    try:
        outcome = (key, True, fn())
    except Exception as e:  # noqa: BLE001 - reported to the owner
        log.exception("%s failed", name)
        outcome = (key, False, str(e) or type(e).__name__)
    # what ``fn`` holds (often a widget) is let go here, while the owner still holds it:
    # the last reference to a widget dropped on this thread would destroy it here
    del fn
    relay.report.emit(outcome)


def run_task(
    owner: QObject,
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[str], None],
    name: str = "task",
) -> Task:
    """Run ``fn()`` in a thread; ``on_done(result)`` or ``on_error(message)`` on the GUI
    thread, unless ``owner`` was deleted meanwhile. Call it on the GUI thread."""
    relay = _the_relay()
    task = Task(owner, on_done, on_error, name)
    key = next(_keys)
    relay.tasks[key] = task
    # not a daemon: quitting waits for it (a thread killed inside torch aborts the process)
    threading.Thread(target=_run, args=([fn], key, relay, name), name=f"segapp-{name}").start()
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
