"""The status bar's long texts: cut with "…", whole in the tooltip."""

from __future__ import annotations

import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import Qt
from qt_helpers import key

from segapp.ui.elided_label import ElidedLabel
from segapp.ui.labeling import click_series

make_window = qt_helpers.make_window  # the window fixture


def test_a_long_text_is_cut_to_the_width_and_kept_whole(qtbot):
    long = "GrabCut refines, guided by v001: 3 clicks (78 ms) — Enter keeps, Esc restores " * 3
    label = ElidedLabel(long, max_width=200)
    qtbot.addWidget(label)
    label.show()
    assert label.width() <= 200 and label.sizeHint().width() == 200
    assert label.text().endswith("…") and label.text().startswith("GrabCut refines")
    assert label.full_text() == long == label.toolTip()
    label.setText("short")
    assert label.text() == "short" and label.sizeHint().width() < 200


def test_the_click_hint_leaves_the_status_bar_room_for_messages(make_window, qtbot, tmp_path):
    w = make_window(make_dataset(tmp_path / "d", n=2))
    key(qtbot, w, Qt.Key.Key_C)  # the Click tool: its hint joins the status bar
    assert w.clicks.label.isVisible()
    w.clicks.label.setText("GrabCut refines, guided by a model with a long name " * 4)
    qtbot.waitUntil(lambda: w.clicks.label.width() <= click_series.LABEL_WIDTH)
    message = "Suggested 14: unlike the 13 corrected so far (colour layout)"
    w.canvas.cursorMoved.emit(-1, -1)  # the pixel readout empty, wherever the test's
    # virtual mouse was left (over the canvas it reads the pixel as an image opens)
    w.statusBar().showMessage(message)
    assert w.statusBar().toolTip() == message  # cut off or not, readable whole
    room = w.statusBar().width() - sum(
        c.width() for c in w.statusBar().findChildren(type(w.pos_label)) if c.isVisible()
    )
    assert room >= w.statusBar().fontMetrics().horizontalAdvance(message) * 0.6


def test_a_long_status_message_ends_in_an_ellipsis_and_is_whole_in_the_tooltip(
    make_window, qtbot, tmp_path
):
    """Not cut mid-word at the first permanent widget: "…", and the tooltip holds it all
    (the tooltip was connected to a C++ setter PySide could not call in the real window)."""
    w = make_window(make_dataset(tmp_path / "d", n=2))
    w.resize(1024, 700)
    sb = w.statusBar()
    long = "/root/a/rather/long/folder/name/masks/11.png: cannot write (File exists); " * 3
    sb.showMessage(long)
    qtbot.waitUntil(lambda: sb.toolTip() == long)
    shown = sb.shown_message()
    room = sb.message_rect()
    assert shown.endswith("…") and long.startswith(shown[:-1])
    assert sb.fontMetrics().horizontalAdvance(shown) <= room.width()
    permanent = [c for c in sb.findChildren(type(w.pos_label)) if c.isVisible()]
    assert permanent and room.right() < min(c.geometry().left() for c in permanent)
    sb.grab()  # paints through the override without error
    sb.showMessage("saved 13.png")
    assert sb.shown_message() == "saved 13.png" and sb.toolTip() == "saved 13.png"
