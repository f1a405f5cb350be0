"""Decode the images a person is likely to open next, off the GUI thread.

Switching to an 8192x8192 PNG takes about a second to decode; done on the GUI thread that
freezes the window. The session asks :class:`ImagePrefetcher` for the neighbours of the
image just shown; a later switch takes the decoded array (waiting for it if the decode is
still running, which is never slower than decoding then). OpenCV decodes without the GIL,
so the window keeps painting meanwhile. Errors are not kept: the session reads the file
again itself and reports them as usual.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from segapp.core.imageio import read_image

log = logging.getLogger(__name__)


class ImagePrefetcher:
    """At most ``keep`` decoded (or decoding) images, oldest dropped first."""

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._pool: ThreadPoolExecutor | None = None
        self._futures: OrderedDict[Path, Future] = OrderedDict()

    def prefetch(self, paths: Iterable[Path]) -> None:
        """Start decoding ``paths`` (those not already held)."""
        for path in paths:
            path = Path(path)
            if path in self._futures:
                self._futures.move_to_end(path)
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="segapp-prefetch")
            self._futures[path] = self._pool.submit(read_image, path)
        while len(self._futures) > self.keep:
            _, fut = self._futures.popitem(last=False)
            fut.cancel()

    def take(self, path: Path) -> np.ndarray | None:
        """The decoded image of ``path`` if it was prefetched and decoded fine, else None."""
        fut = self._futures.pop(Path(path), None)
        if fut is None or fut.cancelled():
            return None
        try:
            return fut.result()
        except Exception as e:  # noqa: BLE001 - the caller reads again and reports it
            log.debug("prefetch of %s failed: %s", path, e)
            return None

    def clear(self) -> None:
        for fut in self._futures.values():
            fut.cancel()
        self._futures.clear()

    def shutdown(self) -> None:
        self.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
