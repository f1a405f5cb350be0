"""A checkout reads resources/ and models/ where they are (tests/test_wheel.py: the wheel)."""

from __future__ import annotations

from pathlib import Path

from segapp.demo import demo_model
from segapp.shipped import model, resource, shipped_root

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_reads_its_own_folders():
    assert shipped_root() == ROOT
    assert (model("demo-model") / "model.safetensors").is_file()
    assert demo_model() == model("demo-model")


def test_the_app_icon_draws(qapp):
    from PySide6.QtGui import QIcon

    icon = QIcon(str(resource("icons", "segapp.svg")))
    image = icon.pixmap(64, 64).toImage()
    assert not image.isNull() and image.width() == 64
    assert image.pixelColor(32, 32).alpha() == 255  # drawn, not an empty pixmap
