"""Background tasks: results come back on the GUI thread, and never to a deleted owner."""

from __future__ import annotations

import threading

import shiboken6
from PySide6.QtCore import QObject

from segapp.ui import tasks
from segapp.ui.tasks import run_task


def test_the_result_and_the_error_come_back_on_the_gui_thread(qtbot):
    owner = QObject()
    seen: list[tuple[str, object, bool]] = []
    gui = threading.get_ident()

    def record(kind):
        return lambda v: seen.append((kind, v, threading.get_ident() == gui))

    done = run_task(owner, lambda: threading.get_ident(), record("done"), record("err"), "t1")

    def boom():
        raise ValueError("the mask is 3 x 4, the image 5 x 6")

    failed = run_task(owner, boom, record("done"), record("err"), "t2")
    assert done.running and failed.running
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    by_kind = {k: (v, on_gui) for k, v, on_gui in seen}
    assert by_kind["done"][0] != gui and by_kind["done"][1]  # ran elsewhere, reported here
    assert by_kind["err"] == ("the mask is 3 x 4, the image 5 x 6", True)
    assert not done.running and not failed.running
    assert not tasks._the_relay().tasks  # nothing kept


def test_an_owner_deleted_while_its_thread_runs_hears_nothing(qtbot):
    owner = QObject()
    go, heard = threading.Event(), []
    task = run_task(owner, lambda: go.wait(5) and "late", heard.append, heard.append, "gone")
    shiboken6.delete(owner)  # the panel closed while its thread works
    go.set()
    qtbot.waitUntil(lambda: not task.running, timeout=5000)
    qtbot.wait(50)
    assert heard == [] and task.owner is None and task.on_done is None


def test_many_owners_deleted_as_their_threads_report(qtbot):
    """The crash this design removes: the thread signalled a task that was its owner's
    child while the owner (and so the task) was being deleted on the GUI thread."""
    heard = []
    running = []
    for i in range(200):
        owner = QObject()
        running.append(run_task(owner, lambda i=i: i, heard.append, heard.append, "race"))
        if i % 2:
            shiboken6.delete(owner)
        else:
            owner.deleteLater()  # deleted at some point while the reports arrive
    qtbot.waitUntil(lambda: not any(t.running for t in running), timeout=20_000)
    assert not [i for i in heard if i % 2]  # an owner deleted before its report: nothing
