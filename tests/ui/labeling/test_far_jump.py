"""A jump to an image not yet read: a placeholder and the busy cursor, then the image.

The read is held back by an event, so the test sees the in-between state for sure.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from segapp.core import imageio
from segapp.ui.labeling import prefetch

make_window = qt_helpers.make_window  # the window fixture


@pytest.fixture
def slow_reads(monkeypatch):
    """Image reads in the loading thread wait until ``release.set()``."""
    release = threading.Event()

    def held_read(path):
        if threading.current_thread() is not threading.main_thread():
            release.wait(30)
        return imageio.read_image(path)

    monkeypatch.setattr(prefetch, "read_image", held_read)
    yield release
    release.set()


def test_a_far_jump_shows_a_placeholder_then_the_image(make_window, qtbot, tmp_path, slow_reads):
    data = make_dataset(tmp_path / "d", n=6, masks=3)
    slow_reads.set()
    w = make_window(data)
    w.session.prefetcher.clear()  # a read-ahead begun while reads ran freely is not taken
    slow_reads.clear()
    w.session.load_wait_s = 0.0  # no wait at all: any read shows the placeholder first
    w.session.prefetcher.prefetch = lambda paths: None  # nothing read ahead: a far jump
    w.session.select("2")
    assert w.session.current == "2" and w.session.loading == "2" and w.session.doc is None
    assert w.canvas.document() is None and w.canvas.placeholder() == "loading 2…"
    assert QApplication.overrideCursor().shape() == Qt.CursorShape.BusyCursor
    qtbot.wait(50)  # the event loop runs meanwhile; the image still is not there
    assert w.session.loading == "2"
    slow_reads.set()
    qtbot.waitUntil(lambda: w.session.doc is not None, timeout=10_000)
    assert w.session.loading is None and w.canvas.document() is w.session.doc
    assert w.canvas.placeholder() == "" and QApplication.overrideCursor() is None
    expected = w.session.project.labels_from_mask(imageio.read_mask(data / "masks" / "2.png"))
    assert np.array_equal(w.session.doc.labels, expected)  # the mask came with it


def test_jumping_on_before_the_image_arrives_drops_it(make_window, qtbot, tmp_path, slow_reads):
    data = make_dataset(tmp_path / "d", n=6)
    slow_reads.set()
    w = make_window(data)
    w.session.prefetcher.clear()  # a read-ahead begun while reads ran freely is not taken
    slow_reads.clear()
    w.session.load_wait_s = 0.0
    w.session.prefetcher.prefetch = lambda paths: None
    w.session.select("4")
    assert w.session.loading == "4"
    w.session.load_wait_s = None
    slow_reads.set()
    w.session.select("1")  # waits for its own read (the read of 4 is queued before it)
    assert w.session.current == "1" and w.session.loading is None
    qtbot.wait(100)  # the late result of 4 is delivered and ignored
    assert w.session.current == "1" and w.canvas.document() is w.session.doc
    assert w.session.cached("4") is None and QApplication.overrideCursor() is None


def test_an_unreadable_image_reports_after_the_jump(make_window, qtbot, tmp_path, slow_reads):
    data = make_dataset(tmp_path / "d", n=3)
    (data / "images" / "9.png").write_bytes(b"not a png at all")
    slow_reads.set()
    w = make_window(data)
    w.session.load_wait_s = 0.0
    w.session.select("9")
    qtbot.waitUntil(lambda: w.session.loading is None, timeout=10_000)
    assert w.session.doc is None and w.session.entry_of("9").error
    assert "cannot show 9" in w.statusBar().currentMessage()
    assert QApplication.overrideCursor() is None
    assert w.canvas.placeholder().startswith("cannot show 9: ")  # no "loading 9…" left
