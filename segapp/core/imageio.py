"""Reading images and masks, writing masks atomically, with errors a person can act on.

Images: PNG, JPEG, TIFF, BMP; 8 or 16 bit (deeper integer and float TIFFs become 16 bit);
gray, RGB, RGBA (composited over black), palette or CMYK; EXIF orientation applied.
Masks: single-channel 8-bit PNG, pixel value = class index (or 0/255 for binary); a palette
PNG's palette indices are its values.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from segapp.core.jpeg_check import cut_short, decode_jpeg, is_jpeg

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEMP_SUFFIX = ".tmp"
MAX_TEMP_NAME = 100  # bytes of the target's name kept in its temp file's name


class SegappError(Exception):
    """Base of the errors segapp reports to a person (one line, no traceback)."""


class ImageReadError(SegappError):
    """An image or mask file cannot be read (missing, empty, truncated, unknown format)."""


class MaskSizeError(SegappError):
    """A mask's size differs from its image's."""


class MaskValueError(SegappError):
    """A mask holds values that are not class indices of the project."""


class WriteError(SegappError):
    """A file cannot be written (read-only folder, full disk ...)."""


def is_image_file(path: Path) -> bool:
    """True for a visible file with a supported image extension."""
    return (
        path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS
    )


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as HxW (gray) or HxWx3 (RGB) uint8 or uint16, EXIF rotation applied.

    Alpha is dropped; palette and CMYK images become RGB. Float images in 0..1 become 8 bit
    (value x 255); other float and 32-bit integer images are scaled from their own min..max
    to 16 bit. Raises ImageReadError with the file name and the reason.
    """
    path = Path(path)
    data = _read_bytes(path)
    # ANYDEPTH keeps 16 bit and float, ANYCOLOR keeps gray gray; without IMREAD_UNCHANGED
    # OpenCV applies the EXIF orientation itself, for every format, exactly once.
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    heard: list[str] = []
    try:
        if is_jpeg(data):
            img, heard = decode_jpeg(data, flags)
        else:
            img = cv2.imdecode(data, flags)
    except cv2.error as e:  # OpenCV refuses headers claiming more than 2**30 pixels
        raise ImageReadError(
            f"{path}: cannot decode the image ({'too large' if 'PIXELS' in str(e) else e})"
        ) from e
    if img is None:
        raise ImageReadError(
            f"{path}: cannot decode the image (corrupt, truncated or not a PNG/JPEG/TIFF/BMP)"
        )
    if _looks_truncated(path, data):
        raise ImageReadError(f"{path}: the file is truncated (it ends before the image data does)")
    if cut_short(heard):
        raise ImageReadError(
            f"{path}: the JPEG data ends early (libjpeg: {cut_short(heard)}); its lower part "
            "would be grey: re-export or replace the file"
        )
    if _png_has_alpha(data):
        img = _over_black(img, data)
    img = _to_supported_depth(img)
    if img.ndim == 3:
        if img.shape[2] == 1:
            img = img[:, :, 0]
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        elif img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        else:
            raise ImageReadError(f"{path}: unsupported number of channels ({img.shape[2]})")
    return np.ascontiguousarray(img)


def _png_has_alpha(data: np.ndarray) -> bool:
    """A PNG whose colour type holds an alpha channel (gray + alpha, or RGBA)."""
    return data[:8].tobytes() == b"\x89PNG\r\n\x1a\n" and len(data) > 25 and data[25] in (4, 6)


def _over_black(img: np.ndarray, data: np.ndarray) -> np.ndarray:
    """``img`` (decoded without its alpha channel) composited over black with the PNG's
    alpha: a transparent pixel is black, as a dark viewer shows it, not the colour stored
    under it (often left over from editing, it was shown and learned before)."""
    full = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if full is None or full.ndim != 3 or full.shape[2] != 4 or full.shape[:2] != img.shape[:2]:
        return img  # (an EXIF turn applied to the image and not to the alpha: left as it is)
    alpha = full[:, :, 3]
    top = np.iinfo(alpha.dtype).max
    if alpha.min() == top:
        return img
    a = alpha if img.ndim == 2 else alpha[:, :, None]
    return ((img.astype(np.uint32) * a + top // 2) // top).astype(img.dtype)


def _read_bytes(path: Path) -> np.ndarray:
    if not path.exists():
        raise ImageReadError(f"{path}: file not found")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: file is empty (0 bytes)")
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read the file ({e.strerror or e})") from e


def _to_supported_depth(img: np.ndarray) -> np.ndarray:
    """uint8/uint16 as is; float in 0..1 -> uint8; other float/int -> uint16 by min..max."""
    if img.dtype in (np.uint8, np.uint16):
        return img
    values = np.nan_to_num(img.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    if np.issubdtype(img.dtype, np.floating) and lo >= 0 and hi <= 1:
        return np.round(values * 255).astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer) and lo >= 0 and hi <= 65535:
        return values.astype(np.uint16)
    scale = 65535.0 / (hi - lo) if hi > lo else 0.0
    return np.round((values - lo) * scale).astype(np.uint16)


def _looks_truncated(path: Path, data: np.ndarray) -> bool:
    """OpenCV fills a truncated JPEG/PNG with gray instead of failing; catch the usual cases.
    The format is the file's own (its first bytes), not its name: a JPEG named .png is fine."""
    tail = data[-16:].tobytes()
    if is_jpeg(data):
        return b"\xff\xd9" not in tail
    if data[:8].tobytes() == PNG_MAGIC:
        return b"IEND" not in tail
    return False


def is_palette_png(path: str | os.PathLike) -> bool:
    """True for a PNG whose pixels are palette indices (colour type 3)."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return False
    return len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[25] == 3


def read_palette_png(path: str | os.PathLike) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A palette PNG's HxW uint8 indices and its palette as (r, g, b) per index."""
    from PIL import Image

    path = Path(path)
    data = _read_bytes(path)
    if _looks_truncated(path, data):
        raise ImageReadError(f"{path}: the file is truncated (it ends before the image data does)")
    try:
        with Image.open(io.BytesIO(data.tobytes())) as pil:
            if pil.mode != "P":
                raise ImageReadError(f"{path}: not a palette image")
            indices = np.array(pil, dtype=np.uint8)
            flat = pil.getpalette() or []
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{path}: cannot decode the palette image ({e})") from e
    palette = [tuple(flat[i : i + 3]) for i in range(0, len(flat) - 2, 3)]
    return indices, palette


def gray_coded(indices: np.ndarray, palette: list[tuple[int, int, int]]) -> np.ndarray | None:
    """The gray levels of a gray mask that a PNG optimiser stored with a palette (index 0
    may then be white), else None: the palette indices are the values (VOC, labelme)."""
    used = np.unique(indices).tolist()
    if any(i >= len(palette) or len(set(palette[i])) != 1 for i in used):
        return None
    if all(palette[i][0] == i for i in used):
        return None
    lut = np.zeros(256, np.uint8)
    lut[used] = [palette[i][0] for i in used]
    return lut[indices]


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Scale a 16-bit image to 8 bit by its own 0.5..99.5 percentile range; pass uint8 through."""
    if img.dtype == np.uint8:
        return img
    lo, hi = np.percentile(img, (0.5, 99.5))
    if hi <= lo:
        hi = lo + 1
    out = (img.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def to_rgb(img: np.ndarray) -> np.ndarray:
    """HxW or HxWx3 of any supported depth -> HxWx3 uint8."""
    img = to_uint8(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as an HxW uint8 array of stored values (0/255 or class indices).

    A palette PNG gives its palette indices (its gray levels when every colour it uses is a
    gray other than its index); a colour mask is reduced to its first channel only if all
    channels are equal.
    With ``shape`` (H, W), a differently sized mask raises MaskSizeError.
    """
    path = Path(path)
    if is_palette_png(path):
        indices, palette = read_palette_png(path)
        gray = gray_coded(indices, palette)
        mask = indices if gray is None else gray
    else:
        mask = read_image(path)
    if mask.ndim == 3:
        if not (
            np.array_equal(mask[..., 0], mask[..., 1])
            and np.array_equal(mask[..., 0], mask[..., 2])
        ):
            raise ImageReadError(
                f"{path}: the mask is a colour image; masks must be single-channel "
                "(pixel value = class index, or 0/255)"
            )
        mask = mask[..., 0]
    if mask.dtype != np.uint8:
        if mask.max() > 255:
            raise MaskValueError(f"{path}: 16-bit mask with values above 255; save it as 8-bit")
        mask = mask.astype(np.uint8)
    if shape is not None:
        mask = fit_mask(mask, shape, path)
    return mask


def fit_mask(
    mask: np.ndarray,
    shape: tuple[int, int],
    source: str | os.PathLike = "mask",
    aspect_tolerance: float = 0.01,
) -> np.ndarray:
    """Return ``mask`` at the image's ``shape`` (H, W).

    A mask saved at another resolution with the same aspect ratio (within 1 %, as many
    published data sets have) is scaled with nearest-neighbour sampling; any other size
    difference raises MaskSizeError.
    """
    h, w = shape
    mh, mw = mask.shape[:2]
    if (mh, mw) == (h, w):
        return mask
    if abs(mw / mh - w / h) / (w / h) > aspect_tolerance:
        raise MaskSizeError(
            f"{source}: mask is {mw}x{mh} but its image is {w}x{h} (width x height); "
            "resize or re-export the mask"
        )
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)


def write_png_atomic(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array as PNG atomically: temp file in the same folder, fsync, os.replace.

    On any failure the previous file (if any) is untouched and WriteError says why.
    """
    path = Path(path)
    arr = array
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise WriteError(f"{path}: cannot encode the array as PNG")
    write_bytes_atomic(path, buf.tobytes())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to ``path`` atomically (temp + fsync + rename), raising WriteError."""
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX, dir=path.parent
        )
        _give_mode(fd, path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        _sync_folder(path.parent)
    except OSError as e:
        raise WriteError(describe_write_error(path, e)) from e
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def _umask() -> int:
    mask = os.umask(0o022)  # read once, at import (one thread): os.umask can only swap
    os.umask(mask)
    return mask


_UMASK = _umask()


def _give_mode(fd: int, path: Path) -> None:
    """The permissions ``path`` has (or a new file would get), not mkstemp's owner-only 0600."""
    if os.name == "nt":
        return
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_UMASK
    with contextlib.suppress(OSError):
        os.fchmod(fd, mode)


def _sync_folder(folder: Path) -> None:
    """Make a rename durable: fsync the folder where the OS allows it (not on Windows)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself is atomic
    finally:
        os.close(fd)


def temp_prefix(name: str) -> str:
    """``.NAME.``: the start of the temp file that becomes ``name``, NAME cut so that the
    whole temp name stays far below the 255-byte limit of file names."""
    name = name[:MAX_TEMP_NAME]
    while len(os.fsencode(name)) > MAX_TEMP_NAME:
        name = name[:-1]
    return f".{name}."


def is_temp_file(name: str) -> bool:
    """A temp file that :func:`write_bytes_atomic` (or a copy into the project) left behind."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX) and len(name) > 5


def describe_write_error(path: str | os.PathLike, e: OSError) -> str:
    """What a person can act on when ``path`` (or the folders to it) cannot be written."""
    path = Path(path)
    if isinstance(e, NotADirectoryError | FileExistsError):
        in_the_way = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if in_the_way is not None:
            return f"{path}: {in_the_way} is a file, not a folder; choose another place"
    if e.errno == errno.ENOSPC:
        return f"{path}: the disk is full; free some space and try again (nothing was overwritten)"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: no permission to write in {path.parent} (read-only folder?); choose a writable folder"
    return f"{path}: cannot write ({e.strerror or e})"


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write an HxW uint8 mask as an 8-bit PNG, atomically."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    write_png_atomic(path, mask.astype(np.uint8, copy=False))
