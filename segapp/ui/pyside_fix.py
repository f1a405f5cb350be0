"""Guard against reference-count bugs of PySide6 6.12 on Python 3.11.

With PySide6 / shiboken6 6.12.0 (abi3 wheels) on Python 3.11:

- every call of a Qt method that returns ``void`` (``item.setPos``, ``painter.save``,
  ``widget.update`` ...) takes one reference from ``None`` that it never gave;
- every ``Signal.emit(...)`` takes one reference from ``True``.

These objects start with a few thousand references, so after a few thousand calls -- a
few seconds of painting -- Python aborts with ``Fatal Python error: none_dealloc`` (or
``bool_dealloc``). PySide6 6.11.3 does not have the bug, and from Python 3.12 on these
objects are immortal, so the bug is harmless there.

:func:`protect_singletons` gives ``None``, ``True`` and ``False`` 2**40 extra references
on CPython < 3.12, so their counts can never reach zero -- what Python 3.12 does for them
by design. They are static objects that are never freed, so this changes nothing else.
Importing :mod:`segapp.ui` calls it; it does nothing where the bug is absent.
pyproject.toml excludes 6.12.0; the guard is for installs that have it anyway.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_PIN = 1 << 40
_done = False


def void_calls_leak_none(calls: int = 64) -> bool:
    """True when calling a ``void`` Qt method drops a reference to ``None`` (the bug)."""
    from PySide6.QtCore import QPointF

    p = QPointF()
    before = sys.getrefcount(None)
    for _ in range(calls):
        p.setX(1.0)
    return before - sys.getrefcount(None) >= calls // 2


def protect_singletons() -> bool:
    """Pin the reference counts of ``None``, ``True`` and ``False`` (CPython < 3.12 only).

    Returns True when it pinned them (once per process).
    """
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if not void_calls_leak_none():  # a PySide6 without the bug: leave the interpreter alone
        _done = True
        return False
    for obj in (None, True, False):
        cell = ctypes.c_ssize_t.from_address(id(obj))
        if cell.value != sys.getrefcount(obj) - 1:  # not the object layout we expect
            log.warning("could not pin the reference count of %r", obj)
            return False
        cell.value += _PIN
    _done = True
    log.info("this PySide6 drops references to None/True: pinned their refcounts")
    return True
