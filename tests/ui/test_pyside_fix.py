"""The PySide6 6.12 refcount guard keeps None/True alive (segapp.ui.pyside_fix)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QPointF, Signal

import segapp.ui  # noqa: F401  (applies the guard)


class _Emitter(QObject):
    fired = Signal()


def test_many_void_calls_and_signal_emits_do_not_free_none_or_true():
    # without the guard, PySide6 6.12 on Python 3.11 aborts here ("none_dealloc")
    p, o = QPointF(), _Emitter()
    for _ in range(20_000):
        p.setX(1.0)
        o.fired.emit()
    assert sys.getrefcount(None) > 1000 and sys.getrefcount(True) > 1000
