"""The window records what each image cost: strokes, fills, polygons and clicks counted where
they happen, active seconds from the canvas's input events (a clock the test sets)."""

from __future__ import annotations

import json

import pytest
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import QPointF, Qt
from qt_helpers import drag, key, tiny_checkpoint, wait_proposal

from segapp.core.effort import Effort
from segapp.core.project import Project
from segapp.ml import versions

make_window = qt_helpers.make_window  # the window fixture
LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "data", n=4, height=48, width=48, masks=2)


def _open(make_window, data):
    """The window on ``data`` with the session's clock at ``window.now[0]`` seconds."""
    w = make_window()
    w.now = [1000.0]
    w.session.clock = lambda: w.now[0]
    assert w.open_path(data)
    w.canvas.set_brush_radius(3)
    return w


@pytest.fixture
def window(make_window, data):
    return _open(make_window, data)


def _at(canvas, x: float, y: float):
    return canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def _hover(qtbot, w, x: float, y: float, after_s: float) -> None:
    """The mouse moves on the image ``after_s`` seconds later."""
    w.now[0] += after_s
    qtbot.mouseMove(w.canvas.viewport(), _at(w.canvas, x, y))


def test_each_action_counts_once_and_active_time_caps_gaps_at_30_s(window, qtbot, data):
    w, s = window, window.session
    stem = s.current
    assert stem == "2" and s.visit_effort == Effort()
    w.now[0] += 4
    drag(qtbot, w.canvas, [(10, 10), (20, 10), (30, 12)])  # brush: one drag, one stroke
    key(qtbot, w, Qt.Key.Key_E)
    drag(qtbot, w.canvas, [(12, 10), (16, 10)])  # eraser
    key(qtbot, w, Qt.Key.Key_P)
    for x, y in [(5, 30), (20, 30), (20, 45)]:
        qtbot.mouseClick(w.canvas.viewport(), LEFT, NOMOD, _at(w.canvas, x, y))
    key(qtbot, w, Qt.Key.Key_Return)  # closes and fills the polygon
    w.now[0] += 100  # away: 30 s of it count
    key(qtbot, w, Qt.Key.Key_F)
    shift = Qt.KeyboardModifier.ShiftModifier  # (the outside of the objects: with Shift)
    qtbot.mouseClick(w.canvas.viewport(), LEFT, shift, _at(w.canvas, 40, 5))  # fill
    s.count_effort("clicks")  # what the Click tool calls per click
    with pytest.raises(ValueError, match="unknown effort"):
        s.count_effort("taps")
    assert s.visit_effort == Effort(clicks=1, strokes=2, fills=1, polygons=1, seconds=34.0)
    w.now[0] += 2
    key(qtbot, w, Qt.Key.Key_D)  # leaves the image: saved as corrected with its effort
    assert s.current == "3"
    want = Effort(clicks=1, strokes=2, fills=1, polygons=1, seconds=36.0)
    assert s.project.entry(stem).effort == want
    # the window still open (as after a crash): the journal has it, segapp.json not yet
    assert Project.open(data).entry(stem).effort == want
    assert not (data / "segapp.json").exists()


def test_looking_costs_an_open_image_its_time_but_a_finished_mask_nothing(window, qtbot, data):
    w, s = window, window.session
    _hover(qtbot, w, 5, 5, after_s=10)  # "2", unlabeled: 10 s of looking
    s.select("0")  # corrected: looked at, not edited
    _hover(qtbot, w, 5, 5, after_s=20)
    s.select("3")
    assert s.project.entry("2").effort == Effort(seconds=10.0)
    assert s.project.entry("0").effort is None
    on_disk = Project.open(data)  # recorded in the journal, no mask written
    assert on_disk.entry("2").effort == Effort(seconds=10.0)
    assert on_disk.entry("2").status == "unlabeled" and on_disk.entry("0").effort is None
    # a corrected mask edited again: its cost keeps accumulating, visit after visit
    for visit in range(2):
        s.select("0")
        w.now[0] += 5
        drag(qtbot, w.canvas, [(30 + visit * 5, 30), (30 + visit * 5, 40)])
        s.select("3")
    assert s.project.entry("0").effort == Effort(strokes=2, seconds=10.0)
    assert s.close_project()  # folded into segapp.json
    images = json.loads((data / "segapp.json").read_text())["images"]
    assert images["0"]["effort"] == Effort(strokes=2, seconds=10.0).to_dict()
    assert images["2"]["effort"]["seconds"] == 10.0


def test_an_unreadable_image_costs_nothing(make_window, qtbot, data):
    """Walk-through 10: 12.7 s were recorded for a truncated JPEG, which never showed."""
    (data / "images" / "bad.png").write_bytes(b"not a png at all")
    w = _open(make_window, data)
    s = w.session
    s.select("bad")
    assert s.doc is None  # it cannot be shown
    w.now[0] += 12.7
    qtbot.keyClick(w.canvas, Qt.Key.Key_Shift)  # input while it is the current image
    s.select("3")
    assert s.project.entry("bad").effort is None
    assert Project.open(data).entry("bad").effort is None


def test_a_new_proposal_restarts_the_count_and_versions_sum_it_up(make_window, qtbot, data):
    model = tiny_checkpoint(data / "models" / "fg", foreground=2.0)
    w = _open(make_window, data)
    s = w.session
    assert w.model_panel.select(str(model))
    w.now[0] += 3
    drag(qtbot, w.canvas, [(5, 5), (9, 5)])
    assert s.visit_effort.strokes == 1
    key(qtbot, w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    wait_proposal(qtbot, w)
    assert s.visit_effort == Effort() and s.entry.effort is None  # cost is per proposal
    key(qtbot, w, Qt.Key.Key_E)
    w.now[0] += 6
    drag(qtbot, w.canvas, [(1, 1), (3, 1)])
    assert s.save()
    entry = s.project.entry("2")
    assert (entry.status, entry.proposed_by) == ("corrected", "fg")
    assert entry.effort == Effort(strokes=1, seconds=6.0)
    stats = versions.effort_stats(s.project)
    assert stats["fg"].images == 1 and stats["fg"].seconds == 6.0
