"""A project is a plain folder any tool can read: ``images/``, ``masks/``, ``segapp.json``, ``models/``.

An existing ``images/`` + ``masks/`` folder opens as is (paired by file stem); a bare folder of
images opens too, with ``masks/`` and ``segapp.json`` created beside the images on first save.
Nothing is written until :meth:`Project.save` or :meth:`Project.write_mask` is called, so
read-only data sets can be trained on directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from segapp.core.classes import ClassInfo, binary_classes
from segapp.core.image_entry import (
    ImageEntry,
    journal_record,
    meta_record,
    read_effort,
    read_threshold,
)
from segapp.core.imageio import (
    ImageReadError,
    MaskValueError,
    SegappError,
    WriteError,
    describe_write_error,
    fit_mask,
    is_image_file,
    read_image,
    read_mask,
    write_mask,
)
from segapp.core.journal import JOURNAL_FILE, append_record, read_records
from segapp.core.palette import palette_classes
from segapp.core.project_file import (
    ProjectError,
    file_stamp,
    read_project_file_or_backup,
    remove_temp_files,
    write_project_file,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
PROJECT_FILE = "segapp.json"
STATUSES = ("unlabeled", "proposed", "corrected")
# "not labelled here": stored as 255 (VOC's and labelme's ``__ignore__``) and kept as class
# index 255, which losses and metrics skip; in every project that stores no class as 255
IGNORE_VALUE = 255
IGNORE_INDEX = 255


def labelled_objects(labels: np.ndarray) -> np.ndarray:
    """Where class-index ``labels`` hold a class other than background (ignore is no class)."""
    return (labels > 0) & (labels != IGNORE_INDEX)


@dataclass
class Project:
    """The images of a folder, their masks and the project's metadata."""

    root: Path
    images_dir: Path
    masks_dir: Path
    classes: list[ClassInfo] = field(default_factory=binary_classes)
    entries: list[ImageEntry] = field(default_factory=list)
    val_stems: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    rescaled_masks: set[str] = field(default_factory=set)  # masks read at another resolution
    # masks found without a status of segapp's (another tool's, a copy): taken as corrected
    adopted: list[str] = field(default_factory=list)
    # segapp.json as this object last read or wrote it: a save over a file someone else
    # changed since is refused (never rewritten from a stale copy)
    file_stamp: tuple[int, int, int] | None = field(default=None, repr=False, compare=False)
    # opened from segapp.json.bak because segapp.json was damaged: what to tell the person
    recovered: str = field(default="", compare=False)

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path) -> Project:
        """Open a project folder, an ``images/``+``masks/`` folder, or a bare folder of images."""
        root = Path(path).expanduser().resolve()
        if not root.exists():
            raise ProjectError(f"{root}: folder not found")
        if not root.is_dir():
            raise ProjectError(
                f"{root}: not a folder (give the folder that holds images/ and masks/)"
            )
        stamp = file_stamp(root / PROJECT_FILE)  # before reading: a change meanwhile is caught
        meta, recovered = read_project_file_or_backup(root / PROJECT_FILE, FORMAT_VERSION)
        if recovered:
            log.warning("%s", recovered)
        if meta.get("images_dir"):
            images_dir = root / meta["images_dir"]
        elif (root / "images").is_dir():
            images_dir = root / "images"
        else:
            images_dir = root
        masks_dir = root / meta.get("masks_dir", "masks")
        classes = [
            ClassInfo(c["name"], tuple(c["color"]), int(c["value"]))
            for c in meta.get("classes", [])
        ] or _palette_classes(root, masks_dir)
        project = cls(root, images_dir, masks_dir, classes, file_stamp=stamp)
        project.val_stems = list(meta.get("val_stems", []))
        project.recovered = recovered
        project.extra = {k: v for k, v in meta.items() if k not in _META_KEYS}
        records = dict(meta.get("images", {}))
        records.update(read_records(root / JOURNAL_FILE, STATUSES))  # statuses saved since
        project._scan(records)
        return project

    def _scan(self, records: dict) -> None:
        if not self.images_dir.is_dir():
            raise ProjectError(f"{self.images_dir}: folder not found")
        files = sorted((p for p in self.images_dir.iterdir() if is_image_file(p)), key=_natural_key)
        mask_files = {}
        if self.masks_dir.is_dir():
            for p in self.masks_dir.iterdir():
                if is_image_file(p):
                    mask_files.setdefault(p.stem, p)
        seen: set[str] = set()
        self.entries, self.adopted = [], []
        for f in files:
            if f.stem in seen:
                log.warning("%s: another image has the stem %r; skipped", f, f.stem)
                continue
            seen.add(f.stem)
            mask_path = mask_files.get(f.stem, self.masks_dir / f"{f.stem}.png")
            rec = records.get(f.stem, {})
            status = rec.get("status")
            if status not in STATUSES or status == "unlabeled":
                # a mask that appeared from elsewhere (another tool, a copy) counts as labeled
                status = "corrected" if mask_path.exists() else "unlabeled"
                if status == "corrected":
                    self.adopted.append(f.stem)
            if status != "unlabeled" and not mask_path.exists():
                status = "unlabeled"
            self.entries.append(
                ImageEntry(
                    f.stem,
                    f,
                    mask_path,
                    status,
                    rec.get("proposed_by"),
                    rec.get("proposal_iou"),
                    read_threshold(rec.get("proposed_at")),
                    effort=read_effort(rec, f.stem),
                )
            )

    # ----------------------------------------------------------------- queries
    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def ignore_value(self) -> int | None:
        """The stored value meaning "ignore" (255), or None when a class is stored as 255."""
        return None if any(c.value == IGNORE_VALUE for c in self.classes) else IGNORE_VALUE

    def entry(self, stem: str) -> ImageEntry:
        for e in self.entries:
            if e.stem == stem:
                return e
        raise KeyError(stem)

    def labeled(self) -> list[ImageEntry]:
        """Entries that have a mask on disk (corrected or proposed)."""
        return [e for e in self.entries if e.has_mask]

    def corrected(self) -> list[ImageEntry]:
        return [e for e in self.entries if e.status == "corrected" and e.has_mask]

    def reviewed(self) -> tuple[list[ImageEntry], list[ImageEntry]]:
        """(corrected, proposals nobody corrected) among the entries with a mask on disk."""
        labeled = self.labeled()
        corrected = [e for e in labeled if e.status == "corrected"]
        return corrected, [e for e in labeled if e.status != "corrected"]

    # ----------------------------------------------------------------- masks
    def labels_from_mask(self, mask: np.ndarray, source: str | Path = "mask") -> np.ndarray:
        """Stored pixel values -> class indices 0..C-1 (ignore stays IGNORE_INDEX); other
        values raise MaskValueError. A binary project also accepts 0/1 masks.
        """
        values = np.array([c.value for c in self.classes])
        lut = np.full(256, -1, dtype=np.int16)
        lut[values] = np.arange(len(values))
        if self.is_binary:
            lut[1] = 1
        if self.ignore_value is not None:
            lut[IGNORE_VALUE] = IGNORE_INDEX
        labels = lut[mask]
        if (labels < 0).any():
            bad = np.unique(mask[labels < 0])[:8].tolist()
            allowed = sorted(set(np.flatnonzero(lut >= 0).tolist()))
            raise MaskValueError(
                f"{source}: values {bad} are not classes of this project "
                f"(allowed pixel values: {allowed})"
            )
        return labels.astype(np.uint8)

    def mask_from_labels(self, labels: np.ndarray) -> np.ndarray:
        """Class indices -> stored pixel values (0/255 for binary projects; ignore stays 255)."""
        lut = np.zeros(256, dtype=np.uint8)
        if self.ignore_value is not None:
            lut[IGNORE_INDEX] = IGNORE_VALUE
        for i, c in enumerate(self.classes):
            lut[i] = c.value
        return lut[labels]

    def read_labels(self, entry: ImageEntry, shape: tuple[int, int] | None = None) -> np.ndarray:
        """The entry's mask as class indices (MaskSizeError if ``shape`` differs)."""
        mask = read_mask(entry.mask_path)
        labels = self.fit_labels(mask, shape, entry.mask_path)
        if shape is not None and mask.shape != tuple(shape):  # scaled, not refused
            self.rescaled_masks.add(entry.stem)
        return labels

    def fit_labels(
        self, mask: np.ndarray, shape: tuple[int, int] | None, source: str | Path = "mask"
    ) -> np.ndarray:
        """Stored mask values -> class indices at the image's size (same-aspect masks scaled)."""
        if shape is not None:
            mask = fit_mask(mask, shape, source)
        return self.labels_from_mask(mask, source)

    def read_image(self, entry: ImageEntry) -> np.ndarray:
        try:
            img = read_image(entry.image_path)
        except ImageReadError as e:
            entry.error = str(e)
            raise
        entry.error = None
        return img

    def write_labels(
        self, entry: ImageEntry, labels: np.ndarray, status: str, proposed_by: str | None = None
    ) -> None:
        """Save class indices as the entry's mask PNG (atomically) and record its status.

        The status is one line appended to the journal, ordered so that a crash at any
        moment never shows a proposal as corrected: a proposal is recorded (and synced)
        before its mask is written, a correction only after its mask is on disk.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if not entry.image_path.is_file():  # moved or deleted while the project was open
            raise WriteError(
                f"{entry.image_path}: the image is no longer there, so its mask was not saved "
                "(a mask without its image is lost to training); put the image back and save again"
            )
        mask = self.mask_from_labels(labels)
        by = entry.proposed_by if proposed_by is None else proposed_by
        record = journal_record(entry, status, by)
        if status != "corrected":
            append_record(self.journal_path, entry.stem, record, sync=True)
        write_mask(entry.mask_path, mask)
        entry.status, entry.proposed_by, entry.mask_error = status, by, None
        if status == "corrected":
            append_record(self.journal_path, entry.stem, record, sync=False)

    def clear_labels(self, entry: ImageEntry) -> None:
        """The entry back to no mask: its mask file removed, then "unlabeled" journalled (a
        crash between the two leaves a "corrected" record without a mask, which reads as
        unlabeled; the other order would leave a mask that reads as corrected)."""
        try:
            entry.mask_path.unlink(missing_ok=True)
        except OSError as e:
            raise WriteError(describe_write_error(entry.mask_path, e)) from e
        entry.status, entry.proposed_by, entry.proposal_iou = "unlabeled", None, None
        entry.proposed_at = None
        entry.mask_error = None
        append_record(
            self.journal_path, entry.stem, journal_record(entry, "unlabeled", None), sync=True
        )

    def record_effort(self, entry: ImageEntry) -> None:
        """Journal the entry's record as it stands (its effort changed, its mask did not)."""
        record = journal_record(entry, entry.status, entry.proposed_by)
        append_record(self.journal_path, entry.stem, record, sync=False)

    # ----------------------------------------------------------------- split
    def split(
        self,
        val_fraction: float,
        seed: int = 0,
        entries: list[ImageEntry] | None = None,
        fixed: list[str] | None = None,
    ) -> tuple[list[ImageEntry], list[ImageEntry]]:
        """(train, val) over ``entries`` (default: labeled ones).

        Stems already in ``fixed`` (default ``val_stems``) stay in validation, so versions
        stay comparable; the rest is ordered by a hash of stem and seed (stable when images
        are added) and the first ones complete the validation set up to ``val_fraction``.
        """
        pool = self.labeled() if entries is None else list(entries)
        if not pool:
            return [], []
        n_val = int(round(len(pool) * val_fraction))
        if val_fraction > 0 and len(pool) >= 2:
            n_val = max(1, min(n_val, len(pool) - 1))
        kept = set(self.val_stems if fixed is None else fixed)
        val = [e for e in pool if e.stem in kept]
        rest = sorted(
            (e for e in pool if e.stem not in kept),
            key=lambda e: hashlib.sha1(_name_bytes(f"{seed}:{e.stem}")).hexdigest(),
        )
        while len(val) < n_val and rest:
            val.append(rest.pop(0))
        val_set = {e.stem for e in val}
        train = [e for e in pool if e.stem not in val_set]
        return train, val

    # ----------------------------------------------------------------- saving
    @property
    def meta_path(self) -> Path:
        return self.root / PROJECT_FILE

    @property
    def journal_path(self) -> Path:
        """Statuses saved since segapp.json was last written whole (see ``core.journal``)."""
        return self.root / JOURNAL_FILE

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def to_meta(self) -> dict:
        images = {}
        for e in self.entries:
            images[e.stem] = meta_record(e)
        meta = {
            "format": FORMAT_VERSION,
            "images_dir": _rel(self.images_dir, self.root),
            "masks_dir": _rel(self.masks_dir, self.root),
            "classes": [asdict(c) | {"color": list(c.color)} for c in self.classes],
            "val_stems": self.val_stems,
            "images": images,
        }
        meta.update(self.extra)
        return meta

    def save(self) -> None:
        """Write segapp.json atomically (creates masks/ too); the journal is folded into it."""
        try:
            self.masks_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WriteError(
                f"{self.masks_dir}: cannot create the masks folder ({e.strerror})"
            ) from e
        if file_stamp(self.meta_path) != self.file_stamp:
            raise WriteError(
                f"{self.meta_path}: changed by another program since this project was opened; "
                "not overwritten (the masks are saved); reopen the project"
            )
        data = json.dumps(self.to_meta(), indent=1).encode()
        write_project_file(self.meta_path, data, keep_damaged=bool(self.recovered))
        self.file_stamp = file_stamp(self.meta_path)
        self.recovered = ""
        try:
            self.journal_path.unlink(missing_ok=True)
        except OSError as e:  # replayed again on the next open: harmless
            log.warning("%s: cannot remove (%s)", self.journal_path, e)

    def remove_temp_files(self) -> int:
        """Delete the temp files a killed save left; only the project's one writer (the
        holder of its lock) may call this. Returns how many were removed."""
        return remove_temp_files(self.root, self.masks_dir, self.images_dir, PROJECT_FILE)


_META_KEYS = {"format", "images_dir", "masks_dir", "classes", "val_stems", "images"}


def _palette_classes(root: Path, masks_dir: Path) -> list[ClassInfo]:
    """Classes of palette PNG masks (VOC style) opened without segapp.json, else binary."""
    try:
        found = palette_classes(root, masks_dir)
    except SegappError as e:
        raise ProjectError(str(e)) from e
    return [ClassInfo(n, c, v) for n, c, v in found] if found else binary_classes()


def _name_bytes(text: str) -> bytes:
    """A file name's bytes, also for a name that is not UTF-8 (kept as surrogates)."""
    return text.encode("utf-8", "surrogateescape")


def _rel(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root)) or "."
    except ValueError:
        return str(p)


def _natural_key(p: Path) -> tuple:
    """Sort '2.png' before '10.png'."""
    import re

    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.stem))
