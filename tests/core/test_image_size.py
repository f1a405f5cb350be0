"""Image sizes from headers: readable images give (height, width), anything else is left out."""

from __future__ import annotations

import cv2
import numpy as np

from segapp.core.image_size import image_size, image_sizes


def test_sizes_from_headers_and_bad_files_left_out(tmp_path):
    good = tmp_path / "a.png"
    cv2.imwrite(str(good), np.zeros((30, 50), np.uint8))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    bad = [tmp_path / "empty.png", tmp_path / "text.jpg", tmp_path / "missing.tif"]
    assert image_size(good) == (30, 50)
    assert all(image_size(p) is None for p in bad)
    assert image_sizes([*bad, good, good], limit=1) == [(30, 50)]
