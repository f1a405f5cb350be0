"""Progress over a known number of items: tqdm's bar on a terminal, plain lines elsewhere.

A bar written to a log file (``segapp predict … 2> run.log``) is every redraw joined by
carriage returns; there a line every tenth of the way says the same in a readable form.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sized
from typing import TypeVar

T = TypeVar("T")
STEPS = 10  # lines off a terminal: one per tenth of the items, and one at the end


def progress(
    items: Iterable[T], desc: str, unit: str = "img", disable: bool = False
) -> Iterator[T]:
    """Yield ``items``, showing how far along they are on stderr (nothing when ``disable``)."""
    if disable:
        yield from items
        return
    stream = sys.stderr
    if stream is not None and stream.isatty():
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, unit=unit)
        return
    total = len(items) if isinstance(items, Sized) else None
    start, next_line = time.perf_counter(), 1
    for done, item in enumerate(items, 1):
        yield item
        if total and done * STEPS >= next_line * total:
            seconds = time.perf_counter() - start
            print(f"{desc}: {done}/{total} {unit} ({seconds:.1f} s)", file=stream, flush=True)
            next_line = done * STEPS // total + 1
