"""Read images off the GUI thread: the ones a person is likely to open next, and any other.

Switching to an 8192x8192 PNG takes about a second to decode; done on the GUI thread that
freezes the window. The session asks :class:`ImagePrefetcher` for the neighbours of the
image just shown; a switch then calls :meth:`ImagePrefetcher.load`, which reads the image
(or takes the prefetched one, waiting for it if its decode is still running) and the mask
in another thread; the session shows a placeholder until it is done (a far jump). Both
threads also make what the canvas draws (``display_levels``: as slow as the decode at
8192x8192). OpenCV works without the GIL, so the window keeps painting meanwhile. Errors
are returned, not raised, for the session to report as usual.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segapp.core.imageio import ImageReadError, SegappError, read_image
from segapp.core.project import ImageEntry, Project
from segapp.ui.canvas.items import display_levels

log = logging.getLogger(__name__)


@dataclass
class ReadResult:
    """An image and its mask as read from disk (or why they could not be)."""

    image: np.ndarray | None
    display: list[np.ndarray] | None = None  # the image's display_levels
    labels: np.ndarray | None = None  # class indices; None: no mask (or an unusable one)
    image_error: ImageReadError | None = None
    mask_error: SegappError | None = None


def _decode(path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    image = read_image(path)
    return image, display_levels(image)


def read_entry(project: Project, entry: ImageEntry, prefetched: Future | None) -> ReadResult:
    """Read ``entry``'s image (``prefetched``'s if that decoded fine) and mask; any thread."""
    decoded = None
    if prefetched is not None:
        try:
            decoded = prefetched.result()
        except Exception as e:  # noqa: BLE001 - read again below, and reported from there
            log.debug("prefetch of %s failed: %s", entry.image_path, e)
    if decoded is not None and not entry.image_path.is_file():
        decoded = None  # gone since it was prefetched: read below, which says so
    if decoded is None:
        try:
            decoded = _decode(entry.image_path)
        except ImageReadError as e:
            return ReadResult(None, image_error=e)
    image, display = decoded
    if not entry.has_mask:
        return ReadResult(image, display)
    try:
        return ReadResult(image, display, project.read_labels(entry, image.shape[:2]))
    except SegappError as e:
        return ReadResult(image, display, mask_error=e)


class ImagePrefetcher:
    """At most ``keep`` decoded (or decoding) images, oldest dropped first."""

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._pool: ThreadPoolExecutor | None = None
        self._load_pool: ThreadPoolExecutor | None = None  # not the prefetch's: loads wait on it
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
            self._futures[path] = self._pool.submit(_decode, path)
        while len(self._futures) > self.keep:
            _, fut = self._futures.popitem(last=False)
            fut.cancel()

    def take(self, path: Path) -> np.ndarray | None:
        """The decoded image of ``path`` if it was prefetched and decoded fine, else None."""
        fut = self.take_future(path)
        if fut is None or fut.cancelled():
            return None
        try:
            return fut.result()[0]
        except Exception as e:  # noqa: BLE001 - the caller reads again and reports it
            log.debug("prefetch of %s failed: %s", path, e)
            return None

    def take_future(self, path: Path) -> Future | None:
        """The prefetch of ``path`` (done or not), no longer held here; None if none."""
        return self._futures.pop(Path(path), None)

    def load(self, project: Project, entry: ImageEntry) -> Future:
        """Read ``entry``'s image and mask in a thread: a Future of a :class:`ReadResult`."""
        prefetched = self.take_future(entry.image_path)
        if self._load_pool is None:
            self._load_pool = ThreadPoolExecutor(1, thread_name_prefix="segapp-load")
        return self._load_pool.submit(read_entry, project, entry, prefetched)

    def clear(self) -> None:
        for fut in self._futures.values():
            fut.cancel()
        self._futures.clear()

    def shutdown(self) -> None:
        self.clear()
        for pool in (self._pool, self._load_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._load_pool = None
