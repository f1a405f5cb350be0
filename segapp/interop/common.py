"""What every format shares: errors, reports, reading foreign files, writing a new folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segapp.core.imageio import SegappError, describe_write_error, read_image
from segapp.core.project import ImageEntry, Project
from segapp.interop.progress import tick


class InteropError(SegappError):
    """An import or export cannot go on (bad source, bad destination, malformed file)."""


@dataclass
class ImportReport:
    """What an import did, for one summary a person can read."""

    project: Path
    added: int = 0  # new images
    written: int = 0  # masks written (all marked corrected)
    replaced_proposals: int = 0
    overwritten: list[str] = field(default_factory=list)  # corrected masks replaced (--overwrite)
    kept: list[str] = field(default_factory=list)  # corrected masks left alone
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (source stem, new stem)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    ignored_shapes: Counter = field(default_factory=Counter)  # shape type -> count
    unpaired: list[str] = field(default_factory=list)
    classes_added: list[str] = field(default_factory=list)
    cancelled: bool = False  # stopped by the person; what was imported is kept
    notes: list[str] = field(default_factory=list)  # how the source was read, where it matters

    def lines(self) -> list[str]:
        """The summary, one line per fact (skipped pairs are in ``skipped``)."""
        out = [
            f"{self.project}: {self.added} images added, {self.written} masks written "
            "(marked corrected)" + (" before the import was cancelled" if self.cancelled else "")
        ]
        if self.classes_added:
            out.append(f"new classes: {', '.join(self.classes_added)}")
        if self.replaced_proposals:
            out.append(f"{self.replaced_proposals} model proposals replaced by imported masks")
        if self.overwritten:
            out.append(
                f"{len(self.overwritten)} corrected masks overwritten: {_few(self.overwritten)}"
            )
        if self.kept:
            out.append(
                f"{len(self.kept)} corrected masks kept (they differ from the import; "
                f"--overwrite replaces them): {_few(self.kept)}"
            )
        for old, new in self.renamed[:5]:
            out.append(f"another image is already called {old!r}: imported as {new!r}")
        if len(self.renamed) > 5:
            out.append(f"... and {len(self.renamed) - 5} more renamed")
        if self.ignored_shapes:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.ignored_shapes.items()))
            out.append(f"shapes not painted: {kinds}")
        if self.unpaired:
            out.append(f"{len(self.unpaired)} unpaired files: {_few(self.unpaired)}")
        return out + self.notes


@dataclass
class ExportReport:
    """What an export wrote."""

    dest: Path
    images: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary (skipped images are in ``skipped``)."""
        return [f"{self.dest}: {self.images} images with their masks", *self.notes]


def _few(items: list[str], n: int = 5) -> str:
    more = f" ... (+{len(items) - n})" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def load_json(path: Path) -> Any:
    """Parse a JSON file (data only, nothing is ever executed), with one-line errors."""
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except OSError as e:
        raise InteropError(f"{path}: cannot read the file ({e.strerror or e})") from e
    except (ValueError, RecursionError) as e:
        raise InteropError(f"{path}: not valid JSON ({e})") from e


def need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` if ``obj`` is a dict holding a ``kind``, else InteropError naming ``where``."""
    if not isinstance(obj, dict):
        raise InteropError(f"{where}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise InteropError(f"{where}: the key {key!r} is missing")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise InteropError(f"{where}: {key!r} must be {names}, got {type(value).__name__}")
    return value


def read_foreign_mask(path: Path) -> tuple[np.ndarray, list[tuple[int, int, int]] | None]:
    """A mask file of another tool as HxW uint8 values, and its palette when the values
    are palette indices.

    Palette PNG/GIF: palette indices (Carvana's ``_mask.gif`` too), or gray levels when the
    palette only encodes a gray image; gray: its values; colour with equal channels: one
    channel. Anything else raises a SegappError.
    """
    from segapp.core.imageio import gray_coded, is_palette_png, read_mask, read_palette_png

    if path.suffix.lower() == ".gif":
        indices, palette = _read_gif(path)
    elif is_palette_png(path):
        indices, palette = read_palette_png(path)
    else:
        return read_mask(path), None
    if palette is None:
        return indices, None
    gray = gray_coded(indices, palette)
    return (indices, palette) if gray is None else (gray, None)


def _read_gif(path: Path) -> tuple[np.ndarray, list[tuple[int, int, int]] | None]:
    from PIL import Image

    try:
        with Image.open(path) as pil:
            if pil.mode != "P":
                return np.array(pil.convert("L"), np.uint8), None
            flat = pil.getpalette() or []
            palette = [tuple(flat[i : i + 3]) for i in range(0, len(flat) - 2, 3)]
            return np.array(pil, np.uint8), palette
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InteropError(f"{path}: cannot read the mask ({e})") from e


def image_suffix(data: bytes) -> str | None:
    """The file suffix of encoded image bytes (PNG, JPEG, BMP, TIFF), None if unknown."""
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data.startswith(b"BM"):
        return ".bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    return None


def exported_entries(project: Project, proposed: bool) -> list[ImageEntry]:
    """Entries with a mask to export: corrected ones (and proposals with ``proposed``)."""
    wanted = ("corrected", "proposed") if proposed else ("corrected",)
    return [e for e in project.entries if e.status in wanted and e.has_mask]


def export_pairs(
    project: Project, proposed: bool, report: ExportReport, image_dir: Path
) -> Iterator[tuple[ImageEntry, Path, np.ndarray]]:
    """(entry, copy of its image in ``image_dir``, class-index labels with ignore 255) of
    each image to export; unreadable ones are reported as skipped, the others counted."""
    for entry in exported_entries(project, proposed):
        tick()
        try:
            image = read_image(entry.image_path)
            labels = project.read_labels(entry, image.shape[:2])
        except SegappError as e:
            report.skipped.append((entry.stem, str(e)))
            continue
        yield entry, copy_image(entry, image_dir), labels
        report.images += 1


@contextlib.contextmanager
def new_folder(dest: str | os.PathLike) -> Iterator[Path]:
    """Write an export into a hidden folder beside ``dest``, renamed to ``dest`` on success.

    ``dest`` must not exist or be an empty folder: an export never overwrites anything, and
    a failed one leaves nothing behind.
    """
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InteropError(f"{dest}: exists and is not an empty folder; choose a new folder")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # a plain mkdir (not mkdtemp's owner-only folder): the export gets the permissions
        # any new folder of the person's gets (their umask)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.partial"
        tmp.mkdir()
    except OSError as e:
        raise InteropError(describe_write_error(dest, e)) from e
    try:
        yield tmp
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except (OSError, SegappError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        # the person chose dest: the hidden folder's name would only puzzle them
        said = describe_write_error(dest, e) if isinstance(e, OSError) else str(e)
        said = said.replace(str(tmp), str(dest))
        raise InteropError(f"{said} (the unfinished export was removed)") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def copy_image(entry: ImageEntry, dest_dir: Path) -> Path:
    """Copy an entry's image file (bytes unchanged) into ``dest_dir`` as ``<stem><suffix>``."""
    target = dest_dir / f"{entry.stem}{entry.image_path.suffix}"
    dest_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry.image_path, target)
    return target
