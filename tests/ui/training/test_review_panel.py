"""Model > Review masks (the Training dock's Review tab): the corrected images whose masks the
active version disagrees with, worst first, read in a job process; a double-click opens one."""

from __future__ import annotations

import sys

import numpy as np
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import Qt
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


def _read(make_window, qtbot, tmp_path):
    """A window on ``_project``'s images with Review's reading of v001 done."""
    root, _project_ = _project(tmp_path)
    w = make_window(root)
    review = w.training.review_masks()
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
    return w, review


def test_review_lists_the_worst_agreement_first_and_opens_it(make_window, qtbot, tmp_path):
    root, project = _project(tmp_path)
    w = make_window(root)
    menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Model")
    action = next(a for a in menu.actions() if a.text().startswith("Review masks"))
    action.trigger()
    review = w.training.review_panel
    assert review.isVisible() and w.training.tabs.currentWidget() is review
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
    shares = {e.stem: (project.read_labels(e) > 0).mean() for e in project.corrected()}
    worst = min(shares, key=shares.get)
    assert review.table.rowCount() == 4 == len(review.rows)
    assert [review.table.item(r, 0).text() for r in range(4)] == sorted(shares, key=shares.get)
    header = review.table.horizontalHeader()  # the arrow on the column the rows follow
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (1, Qt.AscendingOrder)
    assert float(review.table.item(0, 1).text()) == round(shares[worst], 3)
    assert review.heading.text().startswith("v001 against the 4 corrected masks, worst first")
    review.table.cellDoubleClicked.emit(0, 0)
    assert w.session.current == worst
    before = review.reading
    action.trigger()  # the same version: the reading shown is kept
    assert review.reading == before and review.table.rowCount() == 4


def test_another_project_ends_the_reading(make_window, qtbot, tmp_path, monkeypatch):
    code = (
        "import time, segapp.ml.jobs as j; j.JOBS['agreement'] = lambda *a: time.sleep(600); "
        "import segapp.ml.engine_server as s; s.main()"
    )
    monkeypatch.setattr(engine_client, "server_command", lambda: [sys.executable, "-c", code])
    root, _project_ = _project(tmp_path)
    w = make_window(root)
    review = w.training.review_masks()
    procs = []

    def started() -> bool:
        client = review._process and review._process._client
        if client is not None and client.proc is not None:
            procs.append(client.proc)
        return bool(procs)

    qtbot.waitUntil(started, timeout=10_000)
    proc = procs[0]
    qtbot.wait(500)
    assert review.busy and proc.poll() is None  # reading (sleeping) until another project
    assert w.open_path(make_dataset(tmp_path / "other", n=2, height=16, width=16))
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=10_000)
    assert not review.busy and review.version is None
    assert review.table.rowCount() == 0


def test_without_an_active_version_review_says_what_helps(make_window, qtbot, tmp_path):
    w = make_window(make_dataset(tmp_path / "d", n=3, height=16, width=16, masks=2))
    review = w.training.review_masks()
    assert "No trained version is active" in review.heading.text()
    assert not review.busy and np.size(review.rows) == 0


def test_a_newly_active_version_is_read_again_when_the_tab_shows(make_window, qtbot, tmp_path):
    root, project = _project(tmp_path)
    w = make_window(root)
    review = w.training.review_masks()
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
    assert review.version == "v001"
    v2 = tiny_checkpoint(project.models_dir / "v002", foreground=-10.0, export=False)
    versions.set_active(w.session.project, "v002")
    w.training.versions_panel.activeModelChanged.emit(str(v2))  # as a round's check does
    assert review.busy and review.version == "v002"
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
    assert [r["iou"] for r in review.rows] == [0.0] * 4  # v002 proposes nothing
    w.training.tabs.setCurrentIndex(0)  # the Train tab: a new version is not read meanwhile
    versions.set_active(w.session.project, "v001")
    w.training.versions_panel.activeModelChanged.emit(str(project.models_dir / "v001"))
    assert not review.busy and review.version == "v002"
    w.training.tabs.setCurrentWidget(review)  # back on the tab: read for v001
    assert review.busy and review.version == "v001"
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)


def test_review_proposes_at_the_panels_threshold_and_counts_what_it_cannot_read(
    make_window, qtbot, tmp_path
):
    root, project = _project(tmp_path)
    tiny_checkpoint(project.models_dir / "v001", foreground=2.0, export=False)  # p = 0.88
    (root / "images" / "3.png").write_bytes(b"not a png")  # a corrected image, now unreadable
    w = make_window(root)
    w.model_panel.set_threshold(0.95)  # above 0.88: the proposals are empty
    review = w.training.review_masks()
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
    assert len(review.rows) == 3 and {r["iou"] for r in review.rows} == {0.0}
    assert "against the 3 corrected masks (1 could not be read), worst first" in (
        review.heading.text()
    )
    w.model_panel.set_threshold(0.5)
    review.again.click()
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
    assert all(r["iou"] > 0 for r in review.rows)


def test_a_column_sorts_by_its_numbers_and_a_double_click_still_opens_its_image(
    make_window, qtbot, tmp_path
):
    w, review = _read(make_window, qtbot, tmp_path)
    claimed = {r["stem"]: r["claimed"] for r in review.rows}
    review.table.sortItems(2, Qt.SortOrder.DescendingOrder)  # claimed beyond the mask
    shown = [review.table.item(r, 0).text() for r in range(4)]
    assert shown == sorted(claimed, key=claimed.get, reverse=True)
    review.table.cellDoubleClicked.emit(0, 0)
    assert w.session.current == shown[0]
    review.table.sortItems(0, Qt.SortOrder.AscendingOrder)  # the image column: worst first
    assert [review.table.item(r, 0).text() for r in range(4)] == [r["stem"] for r in review.rows]


def test_rows_say_which_images_were_opened_and_which_masks_were_edited_since(
    make_window, qtbot, tmp_path
):
    w, review = _read(make_window, qtbot, tmp_path)
    since = review.table.columnCount() - 1
    assert review.table.horizontalHeaderItem(since).text() == "Since"

    def mark(stem: str) -> str:
        return review.table.item(review._row_of(stem), since).text()

    first, second = (review.table.item(r, 0).text() for r in range(2))
    opened_before = w.session.current  # the window opens on an image of its own
    review.table.cellDoubleClicked.emit(review._row_of(first), 0)
    qtbot.waitUntil(lambda: w.session.doc is not None and w.session.current == first)
    assert mark(first) == "opened"
    assert mark(second) == ("opened" if second == opened_before else "")
    figures = review.table.item(review._row_of(first), 1)
    normal = figures.foreground().color()
    assert "edited" not in review.heading.text()

    labels = w.session.doc.labels.copy()
    labels[:4, :4] = 1 - labels[:4, :4]
    w.session.doc.set_labels(labels, as_proposal=False)
    assert mark(first) == "edited"
    assert figures.foreground().color() != normal  # greyed: read before the edit
    assert "1 mask edited since this reading" in review.heading.text()

    review.again.click()  # scores the edited mask anew
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
    assert mark(first) == "opened"  # the place in the list is kept across readings
    assert "edited" not in review.heading.text()
    w.session.close_project()
    assert review.opened == set() and review.table.rowCount() == 0


def test_the_tab_reads_when_first_shown_unless_a_round_is_training(
    make_window, qtbot, tmp_path, monkeypatch
):
    root, _project_ = _project(tmp_path)
    w = make_window(root)
    training, review = w.training, w.training.review_panel
    training.show()
    monkeypatch.setattr(type(training.train_panel), "running", property(lambda _self: True))
    training.tabs.setCurrentWidget(review)  # a round trains: its budget keeps the CPU
    assert not review.busy and review.version is None
    assert review.heading.text().startswith("Read: the active version proposes")
    monkeypatch.undo()
    training.train_panel.runningChanged.emit(False)  # the round ended: the tab reads now
    assert review.busy and review.version == "v001"
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
    assert len(review.rows) == 4
    training.tabs.setCurrentIndex(0)
    review.reset()  # as another project does
    training.tabs.setCurrentWidget(review)  # no round: the first look reads at once
    assert review.busy and review.version == "v001"
    qtbot.waitUntil(lambda: not review.busy, timeout=60_000)
