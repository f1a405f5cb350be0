"""The sliders jump to the point of their track that is clicked (walk-through 10: a click at
0.9 of the threshold's track moved it one page step, to 0.60)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from segapp.ui.labeling.model_panel import ModelPanel


def _click_at(slider, fraction: float) -> None:
    slider.resize(400, slider.sizeHint().height())
    QTest.mouseClick(
        slider,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        QPoint(round(fraction * slider.width()), slider.height() // 2),
    )


def test_a_click_on_the_threshold_track_moves_it_there(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.show()
    slider = panel.slider
    assert slider.value() == 50
    _click_at(slider, 0.9)
    assert 86 <= slider.value() <= 94  # not 60, one page step
    assert panel.slider_label.text() == f"{slider.value() / 100:.2f}"
    _click_at(slider, 0.2)
    assert 16 <= slider.value() <= 24
