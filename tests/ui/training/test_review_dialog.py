"""Model > Review masks: the corrected images whose masks the active version disagrees with,
worst first, read in a job process; a double-click opens one."""

from __future__ import annotations

import sys

import numpy as np
import qt_helpers
from conftest import make_dataset
from qt_helpers import tiny_checkpoint

from segapp.core.project import Project
from segapp.ml import engine_client, versions

make_window = qt_helpers.make_window  # the window fixture


def _project(tmp_path):
    root = make_dataset(tmp_path / "d", n=6, height=24, width=32, masks=4)
    project = Project.open(root)
    tiny_checkpoint(project.models_dir / "v001", foreground=10.0, export=False)  # all foreground
    versions.set_active(project, "v001")
    return root, project


def test_review_lists_the_worst_agreement_first_and_opens_it(make_window, qtbot, tmp_path):
    root, project = _project(tmp_path)
    w = make_window(root)
    menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Model")
    action = next(a for a in menu.actions() if a.text().startswith("Review masks"))
    action.trigger()
    dialog = w.training.review_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=60_000)
    shares = {e.stem: (project.read_labels(e) > 0).mean() for e in project.corrected()}
    worst = min(shares, key=shares.get)
    assert dialog.table.rowCount() == 4 == len(dialog.rows)
    assert [dialog.table.item(r, 0).text() for r in range(4)] == sorted(shares, key=shares.get)
    assert float(dialog.table.item(0, 1).text()) == round(shares[worst], 3)
    assert dialog.heading.text().startswith("v001 against the 4 corrected masks, worst first")
    dialog.table.cellDoubleClicked.emit(0, 0)
    assert w.session.current == worst
    dialog.close()
    before = dialog.reading
    action.trigger()  # the same version: the reading shown is kept
    assert dialog.reading == before and dialog.table.rowCount() == 4


def test_closing_the_dialog_ends_its_reading(make_window, qtbot, tmp_path, monkeypatch):
    code = (
        "import time, segapp.ml.jobs as j; j.JOBS['agreement'] = lambda *a: time.sleep(600); "
        "import segapp.ml.engine_server as s; s.main()"
    )
    monkeypatch.setattr(engine_client, "server_command", lambda: [sys.executable, "-c", code])
    root, _project_ = _project(tmp_path)
    w = make_window(root)
    dialog = w.training.review_masks()

    procs = []

    def started() -> bool:
        client = dialog._process and dialog._process._client
        if client is not None and client.proc is not None:
            procs.append(client.proc)
        return bool(procs)

    qtbot.waitUntil(started, timeout=10_000)
    proc = procs[0]
    qtbot.wait(500)
    assert dialog.busy and proc.poll() is None  # reading (sleeping) until the dialog closes
    dialog.close()
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=10_000)
    assert not dialog.busy and dialog.version is None  # read again on the next open
    assert dialog.table.rowCount() == 0


def test_without_an_active_version_review_says_what_helps(make_window, qtbot, tmp_path):
    w = make_window(make_dataset(tmp_path / "d", n=3, height=16, width=16, masks=2))
    dialog = w.training.review_masks()
    assert "No trained version is active" in dialog.heading.text()
    assert not dialog.busy and np.size(dialog.rows) == 0
