"""The receiving end of every import: a new or existing project, written with care.

Images are copied (or linked) into ``images/``, masks written as 8-bit PNG into ``masks/``
and marked corrected (one journal line each, as the window records a correction; the
journal is folded into ``segapp.json`` at the end). A mask a person corrected is never
replaced unless ``overwrite`` is set (it is counted as kept); a model's proposal is
replaced. An image whose stem is taken by a different image gets a new stem (``name_2``).
Classes are merged by name: a name the project knows keeps its value, a new one is added
(and saved) before any mask uses it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from segapp.core.classes import DEFAULT_COLORS, ClassInfo
from segapp.core.imageio import (
    IMAGE_EXTENSIONS,
    TEMP_SUFFIX,
    SegappError,
    is_image_file,
    read_image,
    read_mask,
    temp_prefix,
    write_bytes_atomic,
    write_mask,
)
from segapp.core.journal import append_record
from segapp.core.lock import ProjectLock, open_for_writing
from segapp.core.palette import BACKGROUND_NAMES, IGNORE_NAME, voc_colormap
from segapp.core.project import IGNORE_VALUE, PROJECT_FILE, ImageEntry
from segapp.interop.common import ImportReport, InteropError
from segapp.interop.progress import tick

ImageSource = Path | tuple[bytes, str]  # an image file, or encoded bytes and their suffix
MaskMaker = Callable[[tuple[int, int]], np.ndarray]  # image (H, W) -> mask of project values


class ProjectSink:
    """Adds imported image/mask pairs to the project at ``dest`` (created when missing)."""

    def __init__(self, dest: str | os.PathLike, link: bool = False, overwrite: bool = False):
        root = Path(dest).expanduser().absolute()
        if root.exists() and not root.is_dir():
            raise InteropError(f"{root}: not a folder; give a project folder or a new one")
        fresh = not root.exists() or not any(root.iterdir())
        if not fresh and not _looks_like_a_project(root):
            raise InteropError(
                f"{root}: neither a project (segapp.json, images/ or images) nor empty; "
                "give a project or a new folder"
            )
        self._made = [p for p in (root / "images", root) if fresh and not p.exists()]
        if fresh:
            try:
                (root / "images").mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise InteropError(f"{root}: cannot create the project ({e.strerror})") from e
        self.lock = ProjectLock(root, "import")
        try:  # not while a window (or another import) has it open
            self.project, self.lock = open_for_writing(root, "import")
        except BaseException:
            self.discard_if_empty()
            raise
        if fresh or not ((root / PROJECT_FILE).exists() or self.project.labeled()):
            self.project.classes = [ClassInfo("background", (0, 0, 0), 0)]
        self.project.images_dir.mkdir(parents=True, exist_ok=True)
        self.link, self.overwrite = link, overwrite
        self.report = ImportReport(root)
        self._entries = {e.stem: e for e in self.project.entries}
        self._dirty = True  # classes not saved yet

    # ------------------------------------------------------------------ classes
    def class_value(
        self, name: str, preferred: int | None = None, color: tuple[int, int, int] | None = None
    ) -> int:
        """The stored value of the class called ``name``; a new name becomes a new class
        (at ``preferred`` when that value is free)."""
        classes = self.project.classes
        if name == IGNORE_NAME:
            if self.project.ignore_value is None:
                owner = next(c.name for c in classes if c.value == IGNORE_VALUE)
                raise InteropError(
                    f"the project stores the class {owner!r} as 255, so it has no ignore value "
                    f"for {IGNORE_NAME!r}; import into a new project"
                )
            return IGNORE_VALUE
        if name in BACKGROUND_NAMES or preferred == 0:
            return 0
        for c in classes:
            if c.name == name:
                return c.value
        used = {c.value for c in classes}
        if preferred is None or not 0 < preferred < IGNORE_VALUE or preferred in used:
            free = [v for v in range(1, IGNORE_VALUE) if v not in used]
            if not free:
                raise InteropError(f"no pixel value left for the class {name!r} (254 classes)")
            preferred = free[0]
        if color is None:
            color = DEFAULT_COLORS[preferred] if preferred < len(DEFAULT_COLORS) else None
            color = color or voc_colormap()[preferred]
        classes.append(ClassInfo(name, tuple(int(c) for c in color), preferred))
        self.report.classes_added.append(name)
        self._dirty = True
        return preferred

    # ------------------------------------------------------------------ pairs
    def add(self, stem: str, image: ImageSource, make_mask: MaskMaker, source: str) -> None:
        """Import one pair; a problem with it is reported as skipped (``source``: what to name)."""
        try:
            self._add(stem, image, make_mask)
        except SegappError as e:
            self.report.skipped.append((source, str(e).removeprefix(f"{source}: ")))
        tick()  # may raise run.Cancelled: this pair is whole, the next one not begun

    def _add(self, stem: str, image: ImageSource, make_mask: MaskMaker) -> None:
        suffix = (image.suffix if isinstance(image, Path) else image[1]).lower()
        if suffix not in IMAGE_EXTENSIONS:
            raise InteropError(f"unsupported image type {suffix!r} (PNG, JPEG, TIFF or BMP)")
        entry, created = self._entry_for(stem, image, suffix)
        try:
            pixels = read_image(entry.image_path)
            mask = np.asarray(make_mask(pixels.shape[:2]))
            if mask.shape != pixels.shape[:2]:
                raise InteropError(
                    f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                    f"{pixels.shape[1]}x{pixels.shape[0]}"
                )
            self.project.labels_from_mask(mask.astype(np.uint8), entry.image_path.name)
        except BaseException:
            if created:
                entry.image_path.unlink(missing_ok=True)
            raise
        if created:
            self.project.entries.append(entry)
            self._entries[entry.stem] = entry
            self.report.added += 1
        self._write_mask(entry, mask.astype(np.uint8), created)

    def _entry_for(self, stem: str, image: ImageSource, suffix: str) -> tuple[ImageEntry, bool]:
        """The project's entry for this image (same stem, same bytes) or a new one."""
        existing = self._entries.get(stem)
        if existing is not None and _same_file(existing.image_path, image):
            return existing, False
        new_stem, n = stem, 1
        while new_stem in self._entries or self._taken(new_stem):
            n += 1
            new_stem = f"{stem}_{n}"
        if new_stem != stem:
            self.report.renamed.append((stem, new_stem))
        path = self.project.images_dir / f"{new_stem}{suffix}"
        try:
            if isinstance(image, tuple):
                write_bytes_atomic(path, image[0])
            elif self.link:
                os.symlink(image.resolve(), path)
            else:
                tmp = path.with_name(f"{temp_prefix(path.name)}copy{TEMP_SUFFIX}")
                try:
                    shutil.copyfile(image, tmp)
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
        except OSError as e:
            raise InteropError(f"cannot copy the image to {path} ({e.strerror or e})") from e
        mask_path = self.project.masks_dir / f"{new_stem}.png"
        return ImageEntry(new_stem, path, mask_path, "corrected"), True

    def _taken(self, stem: str) -> bool:
        """A file of that stem in images/ that the project does not list (unreadable ...)."""
        folder = self.project.images_dir
        return any(os.path.lexists(folder / f"{stem}{ext}") for ext in IMAGE_EXTENSIONS)

    def _write_mask(self, entry: ImageEntry, mask: np.ndarray, created: bool) -> None:
        path = entry.mask_path
        if path.exists():
            if created or entry.status == "corrected":
                try:
                    same = np.array_equal(read_mask(path), mask)
                except SegappError:
                    same = False
                if same:
                    entry.status = "corrected"
                    return
                if not self.overwrite:
                    self.report.kept.append(entry.stem)
                    return
                self.report.overwritten.append(entry.stem)
            elif entry.status == "proposed":
                self.report.replaced_proposals += 1
        if self._dirty:
            self.project.save()  # the classes a mask uses are on disk before the mask
            self._dirty = False
        target = path.with_suffix(".png")
        write_mask(target, mask)
        if target != path:  # a mask of another type is replaced by the PNG
            with contextlib.suppress(OSError):
                path.unlink()
            entry.mask_path = target
        entry.status, entry.proposed_by, entry.proposal_iou = "corrected", None, None
        entry.effort = None  # an imported mask cost nothing here (the line below has none)
        record = {"status": "corrected", "proposed_by": None, "proposal_iou": None}
        append_record(self.project.journal_path, entry.stem, record, sync=False)
        self.report.written += 1

    def discard_if_empty(self) -> None:
        """Remove the folders this sink made if nothing went into them (a failed import);
        the project's lock is given up."""
        self.lock.release()
        for folder in self._made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only ever removes an empty folder

    def finish(self) -> ImportReport:
        """Save segapp.json (when anything was imported) and return the report; a new
        project folder that received nothing is removed again."""
        if self.report.added or self.report.written:
            try:
                self.project.save()
            finally:
                self.lock.release()
        else:
            self.discard_if_empty()
        return self.report


class ValueMap:
    """Source mask values -> project values, classes made on first sight of a value."""

    def __init__(self, sink: ProjectSink, names: list[str] | None, palette: list | None = None):
        self.sink, self.names, self.palette = sink, names, palette
        self.lut: dict[int, int] = {}

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` (HxW uint8 source values) in project values."""
        table = np.zeros(256, np.uint8)
        for v in np.unique(mask).tolist():
            table[v] = self.value_of(v)
        return table[mask]

    def value_of(self, v: int) -> int:
        """The project value of source value ``v`` (255 = ignore; line v of the names)."""
        if v in self.lut:
            return self.lut[v]
        self.lut[v] = self._value(v)
        return self.lut[v]

    def _value(self, v: int) -> int:
        if v == IGNORE_VALUE:
            return self.sink.class_value(IGNORE_NAME)
        names = self.names or []
        name = names[v] if v < len(names) else ("background" if v == 0 else f"class {v}")
        color = tuple(self.palette[v]) if self.palette and v < len(self.palette) else None
        return self.sink.class_value(name, preferred=v, color=color)


def _looks_like_a_project(root: Path) -> bool:
    """A segapp project, an images/ + masks/ folder, or a bare folder of images."""
    if (root / PROJECT_FILE).exists() or (root / "images").is_dir():
        return True
    return any(is_image_file(p) for p in root.iterdir())


def _same_file(path: Path, image: ImageSource) -> bool:
    """True when ``path`` holds exactly the bytes of ``image``."""
    if not is_image_file(path):
        return False
    try:
        if isinstance(image, tuple):
            return path.stat().st_size == len(image[0]) and path.read_bytes() == image[0]
        if path.resolve() == image.resolve():
            return True
        if path.stat().st_size != image.stat().st_size:
            return False
        import filecmp

        return filecmp.cmp(path, image, shallow=False)
    except OSError:
        return False
