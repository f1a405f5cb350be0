"""What the window remembers of the projects it opened (its QSettings): the recent ones, the
last one, and the image last shown in each."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8


class RecentProjects:
    """The recent projects (newest first) and the image last shown in each."""

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
        return self._last_images().get(str(Path(path).expanduser().resolve()))

    def shown(self, root: Path, stem: str) -> None:
        """``stem`` is shown in the project at ``root`` (kept for the recent projects only)."""
        last = self._last_images()
        last[str(root)] = stem
        keep = set(self.projects()) | {str(root)}
        kept = {k: v for k, v in last.items() if k in keep}
        self.settings.setValue("last_images", json.dumps(kept))

    def _last_images(self) -> dict[str, str]:
        try:
            found = json.loads(self.settings.value("last_images", "{}") or "{}")
        except (TypeError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}
