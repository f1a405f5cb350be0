"""Reading ``segapp.json``: every field checked, each problem one line a person can act on.

A hand-edited or damaged file (truncated, not UTF-8, a field of the wrong type, a class
without a value, a value outside 0..255, two classes on one value) is refused with the field
it is about, never half-read; a folder it names must lie inside the project (no absolute
paths, no ``..``), so nothing is ever read from or written outside the project. Keys this
version does not know are kept as they are (a newer segapp may have written them).
"""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from segapp.core.effort import Effort
from segapp.core.imageio import (
    IMAGE_EXTENSIONS,
    SegappError,
    WriteError,
    is_temp_file,
    write_bytes_atomic,
)

log = logging.getLogger(__name__)


class ProjectError(SegappError):
    """The folder is not a usable project (no images, unreadable segapp.json ...)."""


class DamagedProjectFile(ProjectError):
    """segapp.json does not parse, or holds what segapp never writes (``reason`` says what)."""

    def __init__(self, path: Path, reason: str, advice: str) -> None:
        super().__init__(f"{path}: {reason}; {advice}")
        self.reason = reason


BACKUP_SUFFIX = ".bak"  # segapp.json.bak: the same contents, written after segapp.json
DAMAGED_SUFFIX = ".damaged"  # a damaged segapp.json, kept when the backup replaces it


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def read_project_file_or_backup(path: Path, format_version: int) -> tuple[dict[str, Any], str]:
    """segapp.json's checked contents or, when it is damaged (cut short, edited by hand, a
    sync conflict) or gone beside its backup, the backup's: (contents, what to say of the
    recovery, else ''). Without a usable backup the damage is raised, with what moving the
    file aside does."""
    backup = backup_path(path)
    try:
        if path.exists() or not backup.is_file():
            return read_project_file(path, format_version), ""
        damage, reason = None, "missing"
    except DamagedProjectFile as e:
        damage, reason = e, e.reason
    try:
        meta = read_project_file(backup, format_version) if backup.is_file() else {}
        saved = datetime.datetime.fromtimestamp(backup.stat().st_mtime) if meta else None
    except (ProjectError, OSError):
        meta, saved = {}, None
    if saved is None:
        if damage is None:  # a backup that is no project file: as if there were none
            return {}, ""
        raise DamagedProjectFile(
            path,
            reason,
            "fix it, or move it aside to open the folder without it: every mask then counts "
            "as corrected, unreviewed proposals too",
        ) from damage
    kept = f" The damaged file is kept as {path.name}{DAMAGED_SUFFIX}." if damage else ""
    return meta, (
        f"{path.name} is {'damaged' if damage else 'missing'}"
        + (f" ({reason})" if damage else "")
        + f"; the project was opened from its backup {backup.name} of {saved:%Y-%m-%d %H:%M}"
        f" and the statuses saved since.{kept}"
    )


def write_project_file(path: Path, data: bytes, keep_damaged: bool = False) -> None:
    """Write segapp.json atomically, then the same bytes as its backup (a failed backup is
    logged, not raised). ``keep_damaged``: the file there now was damaged (the project was
    opened from the backup): it is kept as segapp.json.damaged for a look first."""
    if keep_damaged and path.exists():  # (a missing one: nothing to keep)
        keep = path.with_name(path.name + DAMAGED_SUFFIX)
        try:
            write_bytes_atomic(keep, path.read_bytes())
        except (OSError, WriteError) as e:
            log.warning("%s: the damaged project file was not kept (%s)", keep, e)
    write_bytes_atomic(path, data)
    try:
        write_bytes_atomic(backup_path(path), data)
    except WriteError as e:
        log.warning("%s: backup not written (%s)", backup_path(path), e)


def read_project_file(path: Path, format_version: int) -> dict[str, Any]:
    """The checked contents of ``segapp.json`` at ``path`` ({} when there is none)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ProjectError(f"{path}: cannot read the project file ({e.strerror or e})") from e
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _bad(path, f"unreadable project file ({e})") from e
    if not isinstance(meta, dict):
        raise _bad(path, f"not a segapp project file (a JSON {type(meta).__name__})")
    version = meta.get("format", 1)
    if not _is_int(version) or version < 1:
        raise _bad(path, f"'format' must be a whole number, got {version!r}")
    if version > format_version:
        raise ProjectError(f"{path}: made by a newer segapp (format {version}); update segapp")
    for key in ("images_dir", "masks_dir"):
        if key in meta:
            check_folder(path, key, meta[key])
    if meta.get("masks_dir", "masks") == meta.get("images_dir", "images"):
        raise _bad(path, "'masks_dir' and 'images_dir' name the same folder")
    check_classes(path, meta.get("classes", []))
    _check_list_of_str(path, "val_stems", meta.get("val_stems", []))
    _check_images(path, meta.get("images", {}))
    return meta


def check_folder(path: Path, key: str, value: Any) -> None:
    """A folder of the project: a relative path inside it (ProjectError otherwise)."""
    if not isinstance(value, str) or not value:
        raise _bad(path, f"{key!r} must be a folder name, got {value!r}")
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    if posix.is_absolute() or windows.anchor or ".." in posix.parts or ".." in windows.parts:
        raise _bad(
            path,
            f"{key!r} is {value!r}, outside the project; segapp reads and writes only inside "
            "the project folder (give a folder name such as 'images')",
        )


def check_classes(path: Path, classes: Any) -> None:
    """``classes``: a list of {name, color [r, g, b], value 0..255}, distinct values."""
    if not isinstance(classes, list):
        raise _bad(path, f"'classes' must be a list, got {type(classes).__name__}")
    seen: dict[int, str] = {}
    for i, c in enumerate(classes):
        where = f"class {i + 1}"
        if not isinstance(c, dict):
            raise _bad(path, f"{where} must be an object with name, color and value")
        missing = [k for k in ("name", "color", "value") if k not in c]
        if missing:
            raise _bad(path, f"{where} ({c.get('name', '?')!r}) has no {', '.join(missing)}")
        name, color, value = c["name"], c["color"], c["value"]
        if not isinstance(name, str) or not name:
            raise _bad(path, f"{where}: the name must be text, got {name!r}")
        ok_color = isinstance(color, list) and len(color) == 3
        if not ok_color or not all(_is_int(v) and 0 <= v <= 255 for v in color):
            raise _bad(
                path, f"{where} ({name!r}): color must be [r, g, b] in 0..255, got {color!r}"
            )
        if not _is_int(value) or not 0 <= value <= 255:
            raise _bad(
                path, f"{where} ({name!r}): value must be a pixel value 0..255, got {value!r}"
            )
        if value in seen:
            raise _bad(path, f"classes {seen[value]!r} and {name!r} are both stored as {value}")
        seen[value] = name
    if len(classes) == 1:
        raise _bad(path, "a project needs at least two classes (background and one more)")


def _check_list_of_str(path: Path, key: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(path, f"{key!r} must be a list of image names, got {value!r:.60}")


def _check_images(path: Path, images: Any) -> None:
    if not isinstance(images, dict):
        raise _bad(
            path, f"'images' must be an object (name -> record), got {type(images).__name__}"
        )
    kinds = {"status": (str,), "proposed_by": (str, type(None))}
    kinds["proposal_iou"] = (int, float, type(None))
    kinds["proposed_at"] = (int, float, type(None))
    for stem, rec in images.items():
        if not isinstance(rec, dict):
            raise _bad(path, f"the record of image {stem!r} must be an object, got {rec!r:.40}")
        for key, types in kinds.items():
            if key in rec and (not isinstance(rec[key], types) or isinstance(rec[key], bool)):
                raise _bad(path, f"image {stem!r}: {key!r} has the wrong type ({rec[key]!r:.40})")
        if rec.get("effort") is not None:
            try:
                Effort.from_dict(rec["effort"])
            except ValueError as e:
                raise _bad(path, f"image {stem!r}: {e}") from e


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(path: Path, what: str) -> DamagedProjectFile:
    return DamagedProjectFile(path, what, "fix it or move the file aside to reopen the folder")


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of a file, None when there is none: a rewrite changes it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def remove_temp_files(root: Path, masks_dir: Path, images_dir: Path, project_file: str) -> int:
    """Delete what a killed atomic write left: ``.segapp.json.*.tmp``, ``masks/.*.tmp`` and
    ``images/.NAME.EXT*.tmp`` (an image half copied in). Returns how many were removed."""
    removed = 0
    for folder, wanted in (
        (root, lambda n: n.startswith(f".{project_file}.")),
        (masks_dir, lambda n: True),
        (images_dir, lambda n: any(f"{x}." in n.lower() for x in IMAGE_EXTENSIONS)),
    ):
        try:
            found = [p for p in folder.iterdir() if is_temp_file(p.name) and wanted(p.name)]
        except OSError:
            continue
        for p in found:
            try:
                p.unlink()
                removed += 1
            except OSError as e:
                log.warning("%s: cannot remove a left-over temp file (%s)", p, e)
    if removed:
        log.info("removed %d temp files left by an interrupted save", removed)
    return removed
