"""Images of every kind people bring, palette PNG masks opened without an import, and the
ignore value 255."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from segapp.core.classes import multiclass
from segapp.core.imageio import ImageReadError, MaskValueError, read_image, read_mask
from segapp.core.palette import read_class_names, voc_colormap
from segapp.core.project import IGNORE_INDEX, Project

RGB = np.zeros((20, 30, 3), np.uint8)
RGB[:, :10], RGB[:, 10:20], RGB[:, 20:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)


COLOURS = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
GRAYS = [[76] * 3, [150] * 3, [29] * 3]  # the same, as gray (ITU-R 601 luma, as PIL converts)


@pytest.mark.parametrize(
    "name, mode, expected",
    [
        ("cmyk.jpg", "CMYK", COLOURS),
        ("cmyk.tif", "CMYK", COLOURS),
        ("palette.png", "P", COLOURS),
        ("gray_alpha.png", "LA", GRAYS),
    ],
)
def test_palette_cmyk_and_gray_alpha_images(tmp_path, name, mode, expected):
    Image.fromarray(RGB).convert(mode).save(tmp_path / name, quality=100)
    img = read_image(tmp_path / name)
    assert img.shape == (20, 30, 3) and img.dtype == np.uint8
    # colours survive (JPEG within a few levels); gray with alpha: its gray, alpha dropped
    assert np.abs(img[5, [5, 15, 25]].astype(int) - expected).max() < 4


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif"])
def test_exif_rotation_applied_once(tmp_path, ext):
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    Image.fromarray(RGB).save(tmp_path / f"r{ext}", exif=exif, quality=100)
    img = read_image(tmp_path / f"r{ext}")
    assert img.shape[:2] == (30, 20)  # TIFF was rotated twice (back to 20x30) before
    assert img[0, 10, 0] > 200 and img[-1, 10, 2] > 200  # red on top, blue at the bottom


def test_float_and_32bit_tiffs(tmp_path):
    unit = np.linspace(0, 1, 600, dtype=np.float32).reshape(20, 30)
    Image.fromarray(unit).save(tmp_path / "unit.tif")
    img = read_image(tmp_path / "unit.tif")
    assert img.dtype == np.uint8 and img[0, 0] == 0 and img[-1, -1] == 255
    wide = np.linspace(-50, 4000, 600, dtype=np.float32).reshape(20, 30)
    Image.fromarray(wide).save(tmp_path / "wide.tif")
    img = read_image(tmp_path / "wide.tif")  # min..max to 16 bit, order kept (was clipped)
    assert img.dtype == np.uint16 and img.min() == 0 and img.max() == 65535
    assert (np.diff(img.ravel().astype(int)) >= 0).all()
    counts = np.arange(600, dtype=np.int32).reshape(20, 30) * 1000
    Image.fromarray(counts).save(tmp_path / "counts.tif")
    img = read_image(tmp_path / "counts.tif")  # was wrapped around at 256
    assert img.dtype == np.uint16 and (np.diff(img.ravel().astype(int)) >= 0).all()


def test_a_header_claiming_50000x50000_is_refused_quickly(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 9))
    (tmp_path / "bomb.png").write_bytes(png + chunk(b"IEND", b""))
    with pytest.raises(ImageReadError, match="too large"):
        read_image(tmp_path / "bomb.png")  # was an OpenCV exception (a traceback)


def _palette_mask(path, indices, palette):
    pil = Image.fromarray(indices, mode="L")
    pil.putpalette([c for rgb in palette for c in rgb])
    pil.save(path)


def test_palette_png_masks_open_directly(tmp_path):
    """labelme's VOC export copied into images/ + masks/: used to be refused as colour."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    palette = voc_colormap()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "images" / f"{i}.jpg"), np.full((12, 16, 3), 90, np.uint8))
        mask = np.zeros((12, 16), np.uint8)
        mask[2:6, 2:6] = 1 + i
        mask[0] = 255
        _palette_mask(tmp_path / "masks" / f"{i}.png", mask, palette)
    assert read_mask(tmp_path / "masks" / "2.png")[3, 3] == 3  # the index, not a colour
    project = Project.open(tmp_path)
    assert [(c.name, c.value) for c in project.classes] == [
        ("background", 0),
        ("class 1", 1),
        ("class 2", 2),
        ("class 3", 3),
    ]
    assert project.classes[1].color == palette[1]
    labels = project.read_labels(project.entry("1"))
    assert labels[3, 3] == 2 and (labels[0] == IGNORE_INDEX).all()
    (tmp_path / "class_names.txt").write_text("_background_\nperson\ncar\nbottle\ndog\n")
    assert [c.name for c in Project.open(tmp_path).classes] == [
        "background",
        "person",
        "car",
        "bottle",
        "dog",
    ]


def test_gray_mask_stored_with_a_palette_keeps_its_gray_levels(tmp_path):
    """A PNG optimiser may store a 0/255 mask as palette [white, black]: not class indices."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((4, 4, 3), np.uint8))
    indices = np.zeros((4, 4), np.uint8)
    indices[1:3, 1:3] = 1  # index 0 = white foreground, index 1 = black background
    _palette_mask(tmp_path / "masks" / "a.png", indices, [(255, 255, 255), (0, 0, 0)])
    assert read_mask(tmp_path / "masks" / "a.png").tolist() == ((1 - indices) * 255).tolist()
    project = Project.open(tmp_path)
    assert project.is_binary and project.classes[1].value == 255
    assert project.read_labels(project.entry("a")).sum() == 12


def test_class_name_files(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("__ignore__\n_background_\ncat\n\n")
    assert read_class_names(path) == ["_background_", "cat"]
    path.write_text("a\nb\na\n")
    with pytest.raises(Exception, match="appears twice"):
        read_class_names(path)


def test_ignore_value_round_trips_unless_a_class_owns_255(tmp_path):
    project = Project(tmp_path, tmp_path, tmp_path / "masks", multiclass(["bg", "a", "b"]))
    mask = np.array([[0, 1, 2, 255]], np.uint8)
    labels = project.labels_from_mask(mask)
    assert labels.tolist() == [[0, 1, 2, IGNORE_INDEX]]
    assert project.mask_from_labels(labels).tolist() == mask.tolist()
    binary = Project(tmp_path, tmp_path, tmp_path / "masks")  # 0/255: 255 is foreground
    assert binary.ignore_value is None
    assert binary.labels_from_mask(mask[:, [0, 3]]).tolist() == [[0, 1]]
    with pytest.raises(MaskValueError, match="values \\[2\\]"):
        binary.labels_from_mask(mask)
