"""What the window remembers of the projects it opened (its QSettings): the recent ones, the
last one, and the image last shown and the proposal threshold left in each."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8


class RecentProjects:
    """The recent projects (newest first), the image last shown and the threshold left in each."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def projects(self) -> list[str]:
        """The recent project folders that still exist, newest first."""
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [p for p in (value or []) if Path(p).is_dir()]

    def opened(self, root: Path) -> None:
        """``root`` was opened: first in the list, and the last project."""
        recent = [str(root)] + [p for p in self.projects() if p != str(root)]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self.settings.setValue("last_project", str(root))

    def last_image(self, path: str | Path) -> str | None:
        """The image last shown in the project at ``path`` (None if none is known)."""
        found = self._per_project("last_images").get(str(Path(path).expanduser().resolve()))
        return found if isinstance(found, str) else None

    def shown(self, root: Path, stem: str) -> None:
        """``stem`` is shown in the project at ``root`` (kept for the recent projects only)."""
        self._keep("last_images", root, stem)

    def threshold(self, root: Path) -> float | None:
        """The proposal threshold last set in the project at ``root`` (None if none is)."""
        found = self._per_project("thresholds").get(str(root))
        ok = isinstance(found, (int, float)) and 0.0 < found < 1.0
        return float(found) if ok else None

    def set_threshold(self, root: Path, value: float) -> None:
        self._keep("thresholds", root, round(float(value), 2))

    def _keep(self, key: str, root: Path, value: object) -> None:
        """``value`` for the project at ``root`` under ``key`` (the recent projects' only)."""
        found = self._per_project(key)
        found[str(root)] = value
        keep = set(self.projects()) | {str(root)}
        kept = {k: v for k, v in found.items() if k in keep}
        self.settings.setValue(key, json.dumps(kept))

    def _per_project(self, key: str) -> dict[str, object]:
        try:
            found = json.loads(self.settings.value(key, "{}") or "{}")
        except (TypeError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}
