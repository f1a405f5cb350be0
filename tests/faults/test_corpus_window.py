"""The malformed-input corpus through the window: a message in a dialog, never an exception
in a Qt slot (pytest-qt fails the test on one), nothing saved lost."""

from __future__ import annotations

import fault_fixtures
import pytest
import qt_helpers
from fault_corpus import CASES
from fault_fixtures import snapshot

corpus, good_model = fault_fixtures.corpus, fault_fixtures.good_model  # the fixtures
make_window = qt_helpers.make_window

PROJECT_CASES = [n for n in CASES if not n.startswith(("checkpoint", "pickled", "--resume"))]
MODEL_CASES = [n for n in CASES if n not in PROJECT_CASES]


@pytest.mark.parametrize("name", PROJECT_CASES)
def test_opening_a_malformed_project(name, corpus, make_window, tmp_path, capfd):
    case = corpus(name)
    if case.kind == "source":  # what the import made of it (or refused)
        from segapp.cli.main import main

        main(["import", case.source[0], str(case.source[1]), str(case.project)])
    before = snapshot(case.project)
    w = make_window()
    if not w.open_path(case.project):
        assert w.last_error and w.error_box is not None and w.error_box.isVisible()
        assert snapshot(case.project) == before  # refused: nothing written
        return
    s = w.session
    for e in list(s.project.entries):  # every image, as D would show them
        s.select(e.stem)
    good = next(e.stem for e in s.project.entries if e.error is None and s.cached(e.stem))
    s.select(good)
    s.doc.begin_stroke(2, 2)  # an edit, saved on closing
    s.doc.end_stroke()
    assert s.close_project()
    after = snapshot(case.project)
    edited = f"masks/{good}.png"  # the one mask the edit changed
    lost = {
        k
        for k, v in before.items()
        if k not in ("segapp.json", "segapp.json.bak", edited) and after.get(k) != v
    }
    assert not lost
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("name", MODEL_CASES)
def test_a_malformed_model_through_the_model_picker(name, corpus, make_window, tmp_path):
    case = corpus(name)
    w = make_window(case.project)
    folder = case.model if case.model.is_dir() else case.model.parent
    accepted = w.add_model_folder(folder)
    assert not (folder / "PWNED").exists()
    if name in ("pickled code in a .pt file", "checkpoint config.json without weights"):
        assert not accepted and "safetensors" in w.last_error[1]
    if not accepted:
        assert w.error_box is not None and w.error_box.isVisible()
