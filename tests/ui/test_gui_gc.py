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


def test_a_full_collection_waits_until_the_heap_has_grown_by_a_quarter(qtbot, monkeypatch):
    """As Python's own collector: the oldest generation, due by its count, is collected only
    once the heap grew; a full collection with torch loaded holds the GUI thread ~200 ms."""
    from types import SimpleNamespace

    collector = GuiThreadCollector()
    collector.timer.stop()
    collected: list[int] = []
    blocks = [1000]
    fake_gc = SimpleNamespace(get_count=lambda: (701, 11, 11), collect=collected.append)
    monkeypatch.setattr(gui_gc, "gc", fake_gc)
    monkeypatch.setattr(gui_gc, "sys", SimpleNamespace(getallocatedblocks=lambda: blocks[0]))
    collector.blocks_after_full = 1000

    collector.collect_due()
    blocks[0] = 1300  # the heap grew by more than a quarter
    collector.collect_due()
    collector.collect_due()  # ... measured again after that full collection

    assert collected == [1, 2, 1]
    monkeypatch.undo()
    collector.stop()
