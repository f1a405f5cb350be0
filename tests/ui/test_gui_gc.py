"""Cyclic garbage is collected on the GUI thread, never in a worker thread that happens to
allocate (a widget destroyed there can crash Qt: segapp.ui.gui_gc)."""

from __future__ import annotations

import gc
import threading

from segapp.ui import gui_gc
from segapp.ui.gui_gc import GuiThreadCollector, collect_on_gui_thread


def test_a_cycle_dropped_on_the_gui_thread_is_collected_there_not_in_a_worker(qtbot):
    collector = GuiThreadCollector()
    where: list[str] = []

    class Cyclic:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            where.append(threading.current_thread().name)

    Cyclic()  # garbage only a cycle collection frees
    kept: list = []

    def allocate() -> None:  # as a scoring thread does: enough to fill the youngest generation
        kept.append([[] for _ in range(20 * gc.get_threshold()[0])])

    worker = threading.Thread(target=allocate, name="worker")
    worker.start()
    worker.join()
    assert where == []  # the worker's allocations collected nothing
    qtbot.waitUntil(lambda: bool(where), timeout=5000)
    assert where == [threading.main_thread().name]
    collector.stop()
    assert gc.isenabled()


def test_the_window_installs_one_collector(qapp, monkeypatch):
    monkeypatch.setattr(gui_gc, "_installed", None)  # as at the program's start
    first = collect_on_gui_thread(qapp)
    assert collect_on_gui_thread(qapp) is first and not gc.isenabled()
    first.stop()
