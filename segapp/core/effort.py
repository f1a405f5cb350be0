"""What a mask cost a person: actions counted and active seconds, stored per image.

An image's record in ``segapp.json`` (and in the status journal) may hold
``"effort": {"clicks": 2, "strokes": 5, "fills": 0, "polygons": 1, "seconds": 41.3}``:
the Click tool's clicks, brush and eraser strokes (one per drag), fills, polygon / lasso
fills, and the active time spent on the image. Active time is measured by
:class:`ActiveTimer`: wall time between inputs, a gap counting at most ``IDLE_S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

IDLE_S = 30.0  # a person who gave no input for this long is not working on the image
COUNTS = ("clicks", "strokes", "fills", "polygons")


@dataclass
class Effort:
    """Actions and active seconds spent on one image."""

    clicks: int = 0
    strokes: int = 0
    fills: int = 0
    polygons: int = 0
    seconds: float = 0.0

    @property
    def empty(self) -> bool:
        return not (any(getattr(self, k) for k in COUNTS) or self.seconds > 0)

    def __add__(self, other: Effort) -> Effort:
        return Effort(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def to_dict(self) -> dict[str, int | float]:
        """The JSON object stored in the image's record (seconds to 0.1 s)."""
        return {**{k: getattr(self, k) for k in COUNTS}, "seconds": round(self.seconds, 1)}

    @classmethod
    def from_dict(cls, data: Any) -> Effort:
        """The effort of a stored record; ValueError names the first field that is wrong.

        Missing fields are 0 and unknown ones ignored (a newer segapp may add some).
        """
        if not isinstance(data, dict):
            raise ValueError(f"'effort' must be an object, got {data!r:.40}")
        for key in COUNTS:
            value = data.get(key, 0)
            if not _is_count(value):
                raise ValueError(f"effort {key!r} must be a whole number >= 0, got {value!r:.40}")
        seconds = data.get("seconds", 0.0)
        if not _is_number(seconds) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"effort 'seconds' must be a number >= 0, got {seconds!r:.40}")
        return cls(*(data.get(k, 0) for k in COUNTS), float(seconds))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class ActiveTimer:
    """Active seconds from input timestamps (``time.monotonic()`` or any clock in seconds).

    Each input adds the time since the previous one, at most ``idle_s``: a gap longer than
    that counts as ``idle_s`` of work (thinking, looking) and the rest as away. ``stop``
    ends the run (the image is closed), adding the time since the last input the same
    way; the next ``input`` starts a new run and adds nothing.
    """

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self._last: float | None = None

    @property
    def running(self) -> bool:
        return self._last is not None

    def input(self, t: float) -> float:
        """An input at ``t``: returns the active seconds it adds."""
        added = 0.0 if self._last is None else min(max(t - self._last, 0.0), self.idle_s)
        self._last = t if self._last is None else max(t, self._last)
        return added

    def stop(self, t: float) -> float:
        """The image is closed at ``t``: returns the active seconds since the last input."""
        added = self.input(t) if self._last is not None else 0.0
        self._last = None
        return added
