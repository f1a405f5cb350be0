"""Python's cyclic garbage collected on the GUI thread only: ``collect_on_gui_thread(app)``.

Python runs its cycle collector in whichever thread happens to allocate when a generation
fills up. A widget or other Qt object caught in a reference cycle (a lambda slot that holds
its panel, say) is then destroyed by the collector on that thread, and with it its C++
object: off the GUI thread, Qt may crash. The window's threads allocate plenty (the check of
a new version scores it in a thread, in torch), so a panel dropped earlier could be
collected there. A segfault "in a convolution" of that scoring thread came back in the Train
panel's tests now and then, and in the window it would close the program.

So the automatic collector is turned off and a timer on the GUI thread does its work: each
tick it collects the generations that the default thresholds say are due, as the automatic
collector would have, only in the right thread. Like Python's, it runs a full collection
only once the heap has grown by a quarter since the last one (``sys.getallocatedblocks``
standing in for Python's count of long-lived objects): once the version check has brought
torch into the window's process, a full collection takes about 200 ms of the GUI thread.
Reference counting still frees everything that is not in a cycle at once; cycles wait at
most a tick.
"""

from __future__ import annotations

import gc
import sys

import shiboken6
from PySide6.QtCore import QObject, QTimer

TICK_MS = 500
FULL_GROWTH = 1.25  # the heap's growth since the last full collection that calls for one


class GuiThreadCollector(QObject):
    """Collects cyclic garbage on the thread it lives on (the GUI thread), every ``TICK_MS``."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.blocks_after_full = sys.getallocatedblocks()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect_due)
        self.timer.start(TICK_MS)

    def stop(self) -> None:
        """Back to Python's own collector, after collecting everything here (tests: each Qt
        test's garbage goes on the main thread, before the next test's threads allocate)."""
        self.timer.stop()
        gc.enable()
        gc.collect()

    def collect_due(self) -> None:
        """Collect the oldest generation the counts say is due (and the younger ones)."""
        counts = zip(gc.get_count(), self.thresholds, strict=False)
        # a threshold of 0 is never due (gc.set_threshold: a threshold0 of 0 disables collection)
        due = [g for g, (n, most) in enumerate(counts) if 0 < most < n]
        if not due:
            return
        oldest = max(due)
        if oldest == 2 and sys.getallocatedblocks() < FULL_GROWTH * self.blocks_after_full:
            oldest = 1  # as Python's collector: no full collection before the heap grew
        gc.collect(oldest)
        if oldest == 2:
            self.blocks_after_full = sys.getallocatedblocks()


_installed: GuiThreadCollector | None = None


def collect_on_gui_thread(app: QObject) -> GuiThreadCollector:
    """Install the collector on ``app`` (the QApplication, on the GUI thread) once."""
    global _installed
    if _installed is None or not shiboken6.isValid(_installed):
        _installed = GuiThreadCollector(app)
    return _installed
