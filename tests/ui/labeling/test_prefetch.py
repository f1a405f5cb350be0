"""The next and previous images are decoded in the background; a switch takes them."""

from __future__ import annotations

import numpy as np
from conftest import make_dataset

from segapp.core.imageio import read_image
from segapp.ui.labeling.prefetch import ImagePrefetcher
from segapp.ui.labeling.session import LabelSession


def test_take_returns_the_decoded_image_once(tmp_path):
    data = make_dataset(tmp_path / "d", n=3)
    paths = sorted((data / "images").iterdir())
    pf = ImagePrefetcher(keep=2)
    pf.prefetch(paths[:1])
    got = pf.take(paths[0])
    assert got is not None and np.array_equal(got, read_image(paths[0]))
    assert pf.take(paths[0]) is None  # taken: gone
    assert pf.take(paths[1]) is None  # never asked for
    pf.shutdown()


def test_oldest_dropped_and_errors_left_to_the_caller(tmp_path):
    data = make_dataset(tmp_path / "d", n=3)
    paths = sorted((data / "images").iterdir())
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    pf = ImagePrefetcher(keep=2)
    pf.prefetch([paths[0], paths[1], broken])
    assert pf.take(paths[0]) is None  # beyond ``keep``: dropped
    assert pf.take(broken) is None  # failed: the session reads it again and reports
    assert pf.take(paths[1]) is not None
    pf.shutdown()


def test_session_prefetches_neighbours_and_uses_them(qtbot, tmp_path):
    data = make_dataset(tmp_path / "d", n=4)
    session = LabelSession()
    session.load_wait_s = None  # switching waits for the image
    assert session.open_project(data)
    session.select("1")
    entry = session.entry_of("2")
    held = session.prefetcher._futures
    assert entry.image_path in held  # the next one
    assert session.cached("0") is not None  # the previous one was shown: not decoded again
    assert session.entry_of("0").image_path not in held
    session.select("2")
    assert entry.image_path not in held  # taken by the switch
    assert np.array_equal(session.doc.image, read_image(entry.image_path))
    session.close_project()
    assert not held
    session.prefetcher.shutdown()
    session.engine.shutdown()


def test_an_image_removed_after_its_prefetch_is_said_gone_not_shown(qtbot, tmp_path):
    data = make_dataset(tmp_path / "d", n=4)
    session = LabelSession()
    session.load_wait_s = None
    assert session.open_project(data)
    session.select("1")
    entry = session.entry_of("2")
    held = session.prefetcher._futures
    qtbot.waitUntil(lambda: held[entry.image_path].done(), timeout=5000)  # decoded
    entry.image_path.unlink()
    session.select("2")
    assert session.doc is None  # not the decode of a file no longer there
    assert "file not found" in entry.error
    session.close_project()
    session.prefetcher.shutdown()
    session.engine.shutdown()
