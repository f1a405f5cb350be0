"""Decoding a JPEG and hearing what libjpeg says about it.

A JPEG cut short but ending in a valid end marker decodes "successfully" with a grey
bottom: libjpeg only prints ``Corrupt JPEG data: premature end of data segment`` on the
process's stderr, and OpenCV (like Pillow) returns the picture. To report such a file
instead of training on it, the decode runs with file descriptor 2 pointed at a temporary
file (one JPEG at a time); what libjpeg printed is returned, anything else that was written
meanwhile is passed on to the real stderr. Where descriptor 2 cannot be redirected, the
decode runs as is and nothing is heard.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading

import cv2
import numpy as np

JPEG_MAGIC = b"\xff\xd8\xff"
# libjpeg's words for image data that ended before the image did (other warnings, such as
# "extraneous bytes before marker", are harmless and common in camera files)
CUT_SHORT = ("premature end of data segment", "premature end of jpeg file")
_LOCK = threading.Lock()


def is_jpeg(data: np.ndarray) -> bool:
    return data[:3].tobytes() == JPEG_MAGIC


def decode_jpeg(data: np.ndarray, flags: int) -> tuple[np.ndarray | None, list[str]]:
    """``cv2.imdecode(data, flags)`` and the messages libjpeg printed while decoding."""
    with _LOCK, tempfile.TemporaryFile() as sink:
        try:
            saved = os.dup(2)
        except OSError:
            return cv2.imdecode(data, flags), []
        try:
            os.dup2(sink.fileno(), 2)
            img = cv2.imdecode(data, flags)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode("utf-8", "replace")
    heard = [line for line in text.splitlines() if _is_libjpeg(line)]
    others = [line for line in text.splitlines() if not _is_libjpeg(line)]
    if others:  # another thread's output: not ours to swallow
        with contextlib.suppress(OSError):
            os.write(2, ("\n".join(others) + "\n").encode())
    return img, heard


def cut_short(messages: list[str]) -> str | None:
    """libjpeg's message saying the data ended early, if it said so."""
    return next((m for m in messages if any(k in m.lower() for k in CUT_SHORT)), None)


def _is_libjpeg(line: str) -> bool:
    low = line.lower()
    return low.startswith(("corrupt jpeg data", "premature end of jpeg", "warning:")) or (
        "jpeg" in low and "marker" in low
    )
