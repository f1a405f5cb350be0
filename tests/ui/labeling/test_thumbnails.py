"""Thumbnails of the image list: averaged down, and sharp on a scaled screen."""

from __future__ import annotations

import cv2
import numpy as np

from segapp.ui.labeling.image_list import THUMB, _ThumbJob, _ThumbSignals


def _thumb(qtbot, path, ratio: float):
    signals = _ThumbSignals()
    got = []
    signals.done.connect(lambda gen, stem, img, err: got.append((img, err)))
    _ThumbJob(signals, 0, "g", path, ratio).run()
    ((img, err),) = got
    assert err == ""
    return img


def _grey(img) -> np.ndarray:
    img = img.convertToFormat(img.Format.Format_Grayscale8)
    row = img.bytesPerLine()
    data = np.frombuffer(img.constBits(), np.uint8, row * img.height())
    return data.reshape(img.height(), row)[:, : img.width()]


def test_a_fine_grid_is_averaged_not_sampled(qtbot, tmp_path):
    """cv2.resize got INTER_AREA as its ``dst`` argument, so thumbnails were sampled:
    a 1-px grid every 10 px came out as a coarse moire of black and white cells."""
    grid = np.full((150, 200, 3), 255, np.uint8)
    grid[::10] = 0
    grid[:, ::10] = 0
    cv2.imwrite(str(tmp_path / "g.png"), grid)
    img = _thumb(qtbot, tmp_path / "g.png", 1.0)
    assert (img.width(), img.height()) == (THUMB, 33)
    grey = _grey(img).astype(float)
    # averaged: grid lines a light shade on white (std 35-45); sampled, black and white (90)
    assert grey.std() < 60, grey.std()


def test_on_a_screen_scaled_by_two_the_thumbnail_has_twice_the_pixels(qtbot, tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.zeros((150, 200, 3), np.uint8))
    img = _thumb(qtbot, tmp_path / "g.png", 2.0)
    assert (img.width(), img.height()) == (2 * THUMB, 66)
    assert img.devicePixelRatio() == 2.0
    assert img.deviceIndependentSize().width() == THUMB
