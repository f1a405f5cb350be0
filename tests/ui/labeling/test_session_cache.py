"""Visited documents stay cached (with their undo history) within a count and a byte budget."""

from __future__ import annotations

from conftest import make_dataset

from segapp.ui.labeling import session as session_mod
from segapp.ui.labeling.session import LabelSession


def test_byte_budget_drops_saved_documents_never_unsaved_ones(qtbot, tmp_path, monkeypatch):
    data = make_dataset(tmp_path / "d", n=5, height=40, width=40, masks=0)
    one_doc = 40 * 40 * 3 + 40 * 40 + 40 * 40 * 4  # RGB image + labels + what the canvas draws
    monkeypatch.setattr(session_mod, "CACHE_BYTES", 2 * one_doc)
    s = LabelSession()
    s.load_wait_s = None  # switching waits for the image
    assert s.open_project(data)
    s.select("0")
    s.doc.set_labels(s.doc.labels + 1)  # an edit...
    monkeypatch.setattr(s, "save", lambda **kw: True)  # ...that cannot be saved yet
    for stem in ("1", "2", "3", "4"):
        s.select(stem)
    assert s.cached("0") is not None and s.cached("0").doc.dirty  # unsaved: kept
    assert s.cached("4") is not None  # the current one
    kept = [stem for stem in "0123" if s.cached(stem) is not None]
    assert kept == ["0"]  # over the budget, the saved ones went first
    s.prefetcher.shutdown()
    s.engine.shutdown()
