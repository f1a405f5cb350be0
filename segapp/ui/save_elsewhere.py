"""File > Save unsaved masks to…: the unsaved edits written to another folder, for when the
project's own folder cannot take them (read-only, unplugged, full), so that closing need
not lose them."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import QFileDialog, QStatusBar, QWidget

from segapp.core.imageio import WriteError
from segapp.ui.labeling.session import LabelSession


class SaveHost(Protocol):
    session: LabelSession

    def statusBar(self) -> QStatusBar: ...
    def show_error(self, title: str, text: str) -> None: ...


def ask_save_unsaved_elsewhere(win: SaveHost) -> list[str]:
    """Ask for a folder and write every unsaved mask there as STEM.png; the stems written."""
    session = win.session
    if session.project is None:
        return []
    unsaved = session.unsaved
    if not unsaved:
        win.statusBar().showMessage("every mask is saved in the project", 8000)
        return []
    parent = win if isinstance(win, QWidget) else None
    folder = QFileDialog.getExistingDirectory(
        parent, f"Save {len(unsaved)} unsaved mask(s) to a folder"
    )
    if not folder:
        return []
    try:
        written = session.save_unsaved_to(Path(folder))
    except WriteError as e:
        win.show_error("Could not save the copies", f"{e}\n\nTry another folder.")
        return []
    win.statusBar().showMessage(
        f"{len(written)} unsaved mask(s) written to {folder}: copy them into the project's "
        f"{session.project.masks_dir.name}/ later (a mask found there counts as corrected)",
        30_000,
    )
    return written
