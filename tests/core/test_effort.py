"""The effort record: the active-time rule, its JSON form, and its life in segapp.json and
the journal (crash recovery, old files, hand-edited garbage)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_dataset

from segapp.core.effort import ActiveTimer, Effort
from segapp.core.project import Project, ProjectError


def test_timer_counts_gaps_between_inputs_up_to_30_s():
    timer = ActiveTimer()
    assert timer.input(100.0) == 0  # the first input starts the run
    assert timer.input(104.5) == pytest.approx(4.5)
    assert timer.input(204.5) == 30  # away for 100 s: 30 s of it count
    assert timer.input(204.0) == 0  # a clock step back adds nothing
    assert timer.input(210.0) == pytest.approx(5.5)
    assert timer.stop(215.0) == pytest.approx(5.0)  # closed 5 s after the last input
    assert not timer.running
    assert timer.stop(300.0) == 0
    assert timer.input(400.0) == 0  # a new run
    assert timer.stop(1000.0) == 30


def test_timer_with_another_idle_limit():
    timer = ActiveTimer(idle_s=2.0)
    timer.input(0.0)
    assert [timer.input(t) for t in (1.0, 10.0, 11.5)] == [1.0, 2.0, 1.5]


def test_effort_dict_round_trip_and_sum():
    e = Effort(clicks=2, strokes=5, polygons=1, seconds=41.26)
    d = e.to_dict()
    assert d == {"clicks": 2, "strokes": 5, "fills": 0, "polygons": 1, "seconds": 41.3}
    assert Effort.from_dict(d) == Effort(2, 5, 0, 1, 41.3)
    assert Effort.from_dict({"strokes": 3, "future_field": "x"}) == Effort(strokes=3)
    assert e + Effort(fills=2, seconds=1.0) == Effort(2, 5, 2, 1, 42.26)
    assert Effort().empty and not Effort(seconds=0.5).empty and not Effort(fills=1).empty


@pytest.mark.parametrize(
    "bad, field",
    [
        ([1, 2], "'effort' must be an object"),
        ({"strokes": -1}, "'strokes'"),
        ({"clicks": 1.5}, "'clicks'"),
        ({"fills": True}, "'fills'"),
        ({"polygons": "3"}, "'polygons'"),
        ({"seconds": "12"}, "'seconds'"),
        ({"seconds": -1}, "'seconds'"),
        ({"seconds": float("nan")}, "'seconds'"),
    ],
)
def test_garbage_effort_is_refused(bad, field):
    with pytest.raises(ValueError, match=field):
        Effort.from_dict(bad)


def _labels(value: int = 1) -> np.ndarray:
    labels = np.zeros((64, 64), np.uint8)
    labels[10:30, 10:30] = value
    return labels


def test_effort_survives_a_crash_in_the_journal_and_folds_into_segapp_json(tmp_path):
    data = make_dataset(tmp_path / "d", n=3, masks=0)
    project = Project.open(data)
    project.save()
    entry = project.entry("0")
    project.write_labels(entry, _labels(), "proposed", "v001")
    entry.effort = Effort(clicks=1, strokes=4, fills=1, polygons=2, seconds=33.3)
    entry.proposal_iou = 0.8
    project.write_labels(entry, _labels(), "corrected")
    looked = project.entry("1")
    looked.effort = Effort(seconds=7.0)  # looked at, not labeled yet
    project.record_effort(looked)
    # a crash here: segapp.json was never rewritten; the journal has it all
    again = Project.open(data)
    assert again.entry("0").effort == Effort(1, 4, 1, 2, 33.3)
    assert again.entry("0").proposal_iou == 0.8
    assert (again.entry("1").status, again.entry("1").effort) == ("unlabeled", Effort(seconds=7.0))
    assert again.entry("2").effort is None
    again.save()  # folded
    images = json.loads((data / "segapp.json").read_text())["images"]
    assert images["0"]["effort"] == {
        "clicks": 1,
        "strokes": 4,
        "fills": 1,
        "polygons": 2,
        "seconds": 33.3,
    }
    assert "effort" not in images["2"]
    assert Project.open(data).entry("0").effort == Effort(1, 4, 1, 2, 33.3)


def test_a_record_without_effort_replaces_one_with_it(tmp_path):
    """A journal line is the whole record: a new proposal (effort reset) replays as none."""
    data = make_dataset(tmp_path / "d", n=1, masks=0)
    project = Project.open(data)
    entry = project.entry("0")
    entry.effort = Effort(strokes=3, seconds=10)
    project.write_labels(entry, _labels(), "corrected")
    entry.effort = None
    project.write_labels(entry, _labels(), "proposed", "v002")
    assert Project.open(data).entry("0").effort is None


def test_old_project_file_without_effort_loads(tmp_path):
    data = make_dataset(tmp_path / "d", n=2, masks=1)
    old = {
        "format": 1,
        "classes": [
            {"name": "background", "color": [0, 0, 0], "value": 0},
            {"name": "fg", "color": [255, 0, 0], "value": 255},
        ],
        "images": {"0": {"status": "corrected", "proposed_by": "v001", "proposal_iou": 0.7}},
    }
    (data / "segapp.json").write_text(json.dumps(old))
    project = Project.open(data)
    assert project.entry("0").status == "corrected" and project.entry("0").effort is None
    project.save()
    assert "effort" not in json.loads((data / "segapp.json").read_text())["images"]["0"]


@pytest.mark.parametrize(
    "effort, says",
    [
        ("lots", "image '0': 'effort' must be an object"),
        ({"strokes": -2}, "image '0': effort 'strokes' must be a whole number >= 0"),
        ({"seconds": "ten"}, "image '0': effort 'seconds' must be a number >= 0"),
    ],
)
def test_garbage_effort_in_segapp_json_is_refused_clearly(tmp_path, effort, says):
    data = make_dataset(tmp_path / "d", n=1, masks=1)
    meta = {"images": {"0": {"status": "corrected", "effort": effort}}}
    (data / "segapp.json").write_text(json.dumps(meta))
    with pytest.raises(ProjectError, match=says) as err:
        Project.open(data)
    assert "segapp.json" in str(err.value)


def test_a_garbage_effort_in_the_journal_is_dropped_not_fatal(tmp_path, caplog):
    data = make_dataset(tmp_path / "d", n=1, masks=1)
    line = {"stem": "0", "status": "corrected", "effort": {"strokes": "x"}}
    (data / "segapp.journal").write_text(json.dumps(line) + "\n")
    entry = Project.open(data).entry("0")
    assert entry.status == "corrected" and entry.effort is None
    assert "effort record is dropped" in caplog.text
