"""A comparison sheet: rows of (image, ground truth, each model's mask) as one PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segapp.core.imageio import to_rgb, write_png_atomic


def overlay(
    image: np.ndarray, labels: np.ndarray, colors: list[tuple[int, int, int]], alpha: float = 0.5
) -> np.ndarray:
    """RGB image with class colours blended over labelled pixels and class outlines drawn."""
    rgb = to_rgb(image).astype(np.float32)
    lut = np.array([colors[i % len(colors)] for i in range(256)], np.float32)
    colored = lut[labels]
    fg = (labels > 0)[..., None]
    out = np.where(fg, rgb * (1 - alpha) + colored * alpha, rgb)
    edges = cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[edges] = colored[edges]
    return out.astype(np.uint8)


def comparison_sheet(
    rows: list[list[np.ndarray]], titles: list[str], path: str | Path, classes, cell: int = 256
) -> None:
    """Each row: [image, truth labels, pred labels ...]; masks drawn over the image."""
    colors = [c.color for c in classes]
    colors[0] = (0, 0, 0)
    band = 28
    width = cell * len(titles)
    canvas = [np.full((band, width, 3), 255, np.uint8)]
    for j, title in enumerate(titles):
        cv2.putText(
            canvas[0],
            title[:28],
            (j * cell + 6, 19),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    for row in rows:
        image = row[0]
        h, w = image.shape[:2]
        scale = cell / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        tiles = []
        for k, item in enumerate(row):
            pic = to_rgb(image) if k == 0 else overlay(image, item, colors)
            pic = cv2.resize(pic, size, interpolation=cv2.INTER_AREA)
            tile = np.full((cell, cell, 3), 255, np.uint8)
            tile[: size[1], : size[0]] = pic
            tiles.append(tile)
        canvas.append(np.concatenate(tiles, axis=1))
    write_png_atomic(path, np.concatenate(canvas, axis=0))
