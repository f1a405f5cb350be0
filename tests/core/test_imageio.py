"""Reading every supported image kind, typed errors, atomic writes."""

from __future__ import annotations

import errno
import os

import cv2
import numpy as np
import pytest

from segapp.core import imageio
from segapp.core.imageio import (
    ImageReadError,
    MaskSizeError,
    WriteError,
    read_image,
    read_mask,
    to_rgb,
    write_mask,
)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".bmp"])
def test_rgb_round_trip_colour_order(tmp_path, ext):
    img = np.zeros((20, 30, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    cv2.imwrite(str(tmp_path / f"a{ext}"), img[..., ::-1])
    out = read_image(tmp_path / f"a{ext}")
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert abs(int(out[5, 5, 0]) - 200) < 4 and out[5, 5, 2] < 4


def test_16bit_gray_and_rgba(tmp_path):
    g16 = np.arange(600, dtype=np.uint16).reshape(20, 30) * 100
    cv2.imwrite(str(tmp_path / "g.tif"), g16)
    out = read_image(tmp_path / "g.tif")
    assert out.dtype == np.uint16 and out.shape == (20, 30) and out.max() == g16.max()
    rgb8 = to_rgb(out)
    assert rgb8.dtype == np.uint8 and rgb8.shape == (20, 30, 3) and rgb8.max() == 255
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 2] = 255  # red in BGRA
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    assert read_image(tmp_path / "a.png").shape == (8, 8, 3)


def test_transparent_pixels_are_black_not_the_colour_stored_under_them(tmp_path):
    """Walk-through 10: the transparent third of an RGBA PNG showed its hidden colours."""
    bgra = np.zeros((4, 6, 4), np.uint8)
    bgra[..., :3] = (30, 60, 240)  # red-ish in BGR
    bgra[:, :2, 3] = 0  # transparent
    bgra[:, 2:4, 3] = 128  # half
    bgra[:, 4:, 3] = 255  # opaque
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    rgb = read_image(tmp_path / "a.png")
    assert rgb.dtype == np.uint8 and (rgb[:, :2] == 0).all()
    assert tuple(rgb[0, 2]) == (120, 30, 15) and tuple(rgb[0, 4]) == (240, 60, 30)
    deep = bgra.astype(np.uint16) * 257  # 16 bit: alpha 0 / 32896 / 65535
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    rgb16 = read_image(tmp_path / "d.png")
    assert rgb16.dtype == np.uint16 and (rgb16[:, :2] == 0).all()
    assert tuple(rgb16[0, 4]) == (240 * 257, 60 * 257, 30 * 257)
    assert abs(int(rgb16[0, 2, 0]) - 120 * 257) <= 257
    from PIL import Image  # gray + alpha

    la = np.zeros((4, 6, 2), np.uint8)
    la[..., 0], la[:, 3:, 1] = 200, 255
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    gray = read_image(tmp_path / "la.png")
    assert (gray[:, :3] == 0).all() and (gray[:, 3:] == 200).all()  # (read as 3 channels)


def test_exif_rotation(tmp_path):
    from PIL import Image

    img = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert read_image(tmp_path / "r.jpg").shape[:2] == (20, 10)


def test_read_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="cannot decode"):
        read_image(tmp_path / "junk.png")
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nope.png")
    ok, buf = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))
    (tmp_path / "cut.png").write_bytes(buf.tobytes()[:-20])
    with pytest.raises(ImageReadError, match="truncated|cannot decode"):
        read_image(tmp_path / "cut.png")


def test_mask_size_rules(tmp_path):
    write_mask(tmp_path / "m.png", np.zeros((20, 30), np.uint8))
    assert read_mask(tmp_path / "m.png", (40, 60)).shape == (40, 60)  # same aspect: scaled
    with pytest.raises(MaskSizeError, match="mask is 30x20 but its image is 30x30"):
        read_mask(tmp_path / "m.png", (30, 30))


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "m.png"
    write_mask(target, np.full((4, 4), 255, np.uint8))
    before = target.read_bytes()

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imageio.os, "fsync", full_disk)
    with pytest.raises(WriteError, match="disk is full"):
        write_mask(target, np.zeros((4, 4), np.uint8))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]  # no temp file left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(WriteError, match="no permission"):
            write_mask(ro / "m.png", np.zeros((4, 4), np.uint8))
    finally:
        ro.chmod(0o700)


def test_permission_error_message(tmp_path, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(imageio.tempfile, "mkstemp", denied)
    with pytest.raises(WriteError, match="no permission to write"):
        write_mask(tmp_path / "m.png", np.zeros((4, 4), np.uint8))
