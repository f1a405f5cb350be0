"""A version trained outside the window (``segapp train --out PROJECT/models/vNNN``, which
only reads the project) becomes the active one when the project opens without one, so
proposals and the next Train continue from it; a run awaiting its check is left to it."""

from __future__ import annotations

import json

import qt_helpers
from conftest import make_dataset
from qt_helpers import tiny_checkpoint

from segapp.core.project import Project
from segapp.ml import unfinished, versions

make_window = qt_helpers.make_window


def _version(root, name: str, created: str) -> str:
    folder = tiny_checkpoint(root / "models" / name, foreground=2.0, export=False)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"created": created}))
    return str(folder)


def test_the_newest_version_becomes_active_when_none_is_recorded(make_window, qtbot, tmp_path):
    root = make_dataset(tmp_path / "d", n=4, height=24, width=24)
    _version(root, "v002", "2026-12-01T10:00:00+00:00")
    newest = _version(root, "v001", "2026-12-02T10:00:00+00:00")  # by date, not by name
    assert versions.active_version(Project.open(root)) is None

    w = make_window(root)

    assert versions.active_version(Project.open(root)).name == "v001"  # saved in segapp.json
    said = "v001, the newest version in models/, is now the active version"
    qtbot.waitUntil(lambda: said in w.statusBar().currentMessage(), timeout=5000)
    assert w.model_panel.model_ref() == newest  # it proposes
    assert w.training.train_panel.form.values()["base"] == newest  # and Train continues it
    assert "v001" in w.training.versions_panel.info.text()


def test_a_recorded_active_version_is_left_alone(make_window, qtbot, tmp_path):
    root = make_dataset(tmp_path / "d", n=4, height=24, width=24)
    _version(root, "v001", "2026-12-01T10:00:00+00:00")
    _version(root, "v002", "2026-12-02T10:00:00+00:00")
    project = Project.open(root)
    versions.set_active(project, "v001")
    w = make_window(root)
    assert versions.active_version(w.session.project).name == "v001"
    qtbot.wait(50)
    assert "newest version" not in w.statusBar().currentMessage()


def test_a_run_awaiting_its_check_is_left_to_the_check(make_window, qtbot, tmp_path):
    root2 = make_dataset(tmp_path / "e", n=4, height=24, width=24)
    _version(root2, "v001", "2026-12-01T10:00:00+00:00")
    unfinished.mark_unchecked(Project.open(root2), "v001")  # a run the window started
    w2 = make_window(root2)
    assert "newest version" not in w2.statusBar().currentMessage()
    panel = w2.training.train_panel
    assert "v001 (its run ended while the project was closed)" in panel.status_label.text()
    qtbot.waitUntil(lambda: not panel.scoring, timeout=60_000)  # the check decides, as before
    assert versions.active_version(Project.open(root2)).name == "v001"
