"""Small projects and label masks the interop tests build for themselves (no real data)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segapp.core.classes import ClassInfo
from segapp.core.project import Project

CLASSES = ["background", "cat", "dog"]


def sample_labels(h: int = 40, w: int = 56, seed: int = 0, hard: bool = True) -> np.ndarray:
    """Class indices with what trips converters: a ring around another class, touching
    classes, a 1-pixel dot, a thin diagonal line and (``hard``) a background hole in the
    ring and an ignore strip (255)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((h, w), np.uint8)
    cy, cx = h // 2 + int(rng.integers(-2, 3)), w // 3
    cv2.circle(labels, (cx, cy), 13, 1, -1)
    cv2.circle(labels, (cx, cy), 7, 0 if hard else 1, -1)  # background hole
    cv2.circle(labels, (cx, cy), 3, 2, -1)  # another class inside the hole
    cv2.rectangle(labels, (w - 20, 2), (w - 4, h // 2), 2, -1)
    cv2.rectangle(labels, (w - 12, h // 2), (w - 4, h - 3), 1, -1)  # touches the class-2 box
    labels[h - 2, 1] = 1  # a dot
    cv2.line(labels, (w // 2, 2), (w // 2 + 6, 8), 2, 1)  # a thin diagonal line
    if hard:
        labels[:, 0] = 255  # not labelled
    return labels


def make_project(root: Path, n: int = 3, hard: bool = True, suffix: str = ".png") -> Project:
    """A 3-class project with ``n`` corrected images (and one unlabeled one)."""
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n + 1):
        image = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"img{i}{suffix}"), image)
    project = Project.open(root)
    project.classes = [
        ClassInfo("background", (0, 0, 0), 0),
        ClassInfo("cat", (255, 64, 64), 1),
        ClassInfo("dog", (64, 160, 255), 2),
    ]
    project.save()  # the classes (write_labels records statuses only)
    for i, entry in enumerate(project.entries[:n]):
        project.write_labels(entry, sample_labels(seed=i, hard=hard), "corrected")
    return project


def labels_by_stem(root: Path) -> dict[str, np.ndarray]:
    """Every labeled image of the project at ``root``: its class indices."""
    project = Project.open(root)
    return {
        e.stem: project.read_labels(e)
        for e in project.entries
        if e.has_mask and e.status == "corrected"
    }


def class_names(root: Path) -> list[str]:
    return [c.name for c in Project.open(root).classes]
