"""A project's label classes: name, display colour and the pixel value stored in masks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ClassInfo:
    """One label class: its name, display colour and the pixel value stored in mask PNGs."""

    name: str
    color: tuple[int, int, int]
    value: int


DEFAULT_COLORS = [
    (0, 0, 0),
    (255, 64, 64),
    (64, 160, 255),
    (80, 220, 80),
    (255, 200, 0),
    (200, 80, 255),
    (0, 220, 220),
    (255, 128, 0),
]


def binary_classes() -> list[ClassInfo]:
    """Background (0) and foreground (stored as 255, as most tools expect)."""
    return [ClassInfo("background", (0, 0, 0), 0), ClassInfo("foreground", (255, 64, 64), 255)]


def multiclass(names: list[str]) -> list[ClassInfo]:
    """Classes stored by index (0 = the first name, usually background)."""
    return [ClassInfo(n, DEFAULT_COLORS[i % len(DEFAULT_COLORS)], i) for i, n in enumerate(names)]
