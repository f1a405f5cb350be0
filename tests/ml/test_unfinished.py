"""Versions whose run ended short of its plan, and the record of a version not yet checked."""

from __future__ import annotations

import json

import pytest
from conftest import make_dataset

from segapp.core.project import Project
from segapp.ml import unfinished, versions


def _version(project: Project, name: str, patience: int = 10) -> versions.ModelVersion:
    folder = project.models_dir / name
    folder.mkdir(parents=True)
    (folder / versions.WEIGHTS_FILE).write_bytes(b"")
    (folder / versions.CONFIG_FILE).write_text(json.dumps({"train": {"patience": patience}}))
    return versions.read_version(folder)


def _last(v: versions.ModelVersion, done: int, planned: int, **last_epoch) -> None:
    history = [{"epoch": e, "stopped": False, "best_epoch": e} for e in range(1, done + 1)]
    history[-1].update(last_epoch)
    state = {"epoch": done, "planned_epochs": planned, "history": history}
    (v.path / "last").mkdir()
    (v.path / "last" / versions.CONFIG_FILE).write_text(json.dumps({"state": state}))


@pytest.fixture
def project(tmp_path) -> Project:
    return Project.open(make_dataset(tmp_path / "data", n=3, height=16, width=16))


def test_a_run_that_ran_its_plan_or_left_no_record_says_nothing(project):
    complete = _version(project, "v001")
    _last(complete, 8, 8, stopped=True)  # Stop pressed in the last epoch: the plan ran
    assert unfinished.run_ending(complete) == ""
    assert unfinished.run_ending(_version(project, "v002")) == ""  # no last/ (older runs)
    broken = _version(project, "v003")
    (broken.path / "last").mkdir()
    (broken.path / "last" / versions.CONFIG_FILE).write_text("{not json")
    assert unfinished.run_ending(broken) == ""


def test_a_stopped_run_and_a_cut_off_run_say_how_far_they_went(project):
    stopped = _version(project, "v001")
    _last(stopped, 3, 8, stopped=True)
    assert unfinished.run_ending(stopped) == "stopped after 3 of 8 epochs"
    killed = _version(project, "v002")
    _last(killed, 5, 24)
    assert unfinished.run_ending(killed) == "cut off after 5 of 24 epochs"


def test_runs_that_counted_steps_say_how_far_in_steps(project):
    stopped = _version(project, "v001")
    _last(stopped, 2, 4, stopped=True, steps_done=14, steps=34, steps_planned=96)
    assert unfinished.run_ending(stopped) == "stopped after 14 of 34 steps"
    assert unfinished.budget_share(stopped) is None  # Stop said more


def test_a_run_the_time_budget_cut_says_what_share_of_the_plan_it_took(project):
    """v001 ran 12 of its 96 planned steps and looked like a whole round in Versions."""
    cut = _version(project, "v001")
    _last(cut, 1, 1, steps_done=12, steps=12, steps_planned=96)
    assert unfinished.run_ending(cut) == ""  # it ran its plan as the budget cut it
    assert unfinished.budget_share(cut) == (12, 96)
    whole = _version(project, "v002")
    _last(whole, 8, 8, steps_done=96, steps=96, steps_planned=96)
    assert unfinished.budget_share(whole) is None
    early = _version(project, "v003", patience=2)  # validation stopped it, not the budget
    _last(early, 5, 8, best_epoch=3, val_trusted=True, steps_done=50, steps=80, steps_planned=80)
    assert unfinished.run_ending(early) == "" and unfinished.budget_share(early) is None
    assert unfinished.budget_share(_version(project, "v004")) is None  # no record


def test_an_early_stop_on_validation_is_not_a_cut_off(project):
    early = _version(project, "v001", patience=10)
    _last(early, 14, 24, best_epoch=4, val_trusted=True)
    assert unfinished.run_ending(early) == ""
    # the same epochs without trusted validation cannot have stopped early
    untrusted = _version(project, "v002", patience=10)
    _last(untrusted, 14, 24, best_epoch=4, val_trusted=False)
    assert unfinished.run_ending(untrusted) == "cut off after 14 of 24 epochs"


def test_the_unchecked_record_survives_a_reopen_until_cleared(project):
    _version(project, "v001")
    unfinished.mark_unchecked(project, "v001")
    reopened = Project.open(project.root)
    assert unfinished.unchecked_version(reopened).name == "v001"
    unfinished.clear_unchecked(reopened, "v002")  # another version's check clears nothing
    assert unfinished.unchecked_version(Project.open(project.root)).name == "v001"
    unfinished.clear_unchecked(reopened, "v001")
    assert unfinished.unchecked_version(Project.open(project.root)) is None


def test_a_record_without_a_complete_checkpoint_is_forgotten(project):
    unfinished.mark_unchecked(project, "v004")  # the run left nothing (killed at once)
    reopened = Project.open(project.root)
    assert unfinished.unchecked_version(reopened) is None
    assert unfinished.UNCHECKED_KEY not in Project.open(project.root).extra
    for bad in ("../elsewhere", "", 7):  # a hand-edited segapp.json
        project.extra[unfinished.UNCHECKED_KEY] = bad
        assert unfinished.unchecked_version(project) is None


def test_the_folder_of_a_run_killed_before_its_first_checkpoint_goes(project):
    """Killing the window during the first epoch left models/v003 with two lists in it."""
    run = project.models_dir / "v003"
    run.mkdir(parents=True)
    (run / "train-images.txt").write_text("0\n1\n")
    (run / "val-images.txt").write_text("")
    unfinished.mark_unchecked(project, "v003")
    assert unfinished.unchecked_version(Project.open(project.root)) is None
    assert not run.exists()
    # a folder holding anything else is left alone (someone else's files)
    other = project.models_dir / "v004"
    other.mkdir()
    (other / "train-images.txt").write_text("0\n")
    (other / "notes.txt").write_text("mine")
    unfinished.mark_unchecked(Project.open(project.root), "v004")
    assert unfinished.unchecked_version(Project.open(project.root)) is None
    assert (other / "notes.txt").exists()
