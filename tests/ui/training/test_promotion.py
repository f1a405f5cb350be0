"""After a run the panel scores the new version against the active one (in a thread) and
makes it active only when it is strictly better: real checkpoints, real scores."""

from __future__ import annotations

import json

import pytest
from conftest import make_dataset
from qt_helpers import tiny_checkpoint

from segapp.core.project import Project
from segapp.ml import versions
from segapp.ui.training.panel import TrainPanel


def _version(project: Project, name: str, logit: float, trained_on: list[str]):
    """A checkpoint whose network says ``logit`` (nearly) everywhere: +10 marks every
    pixel foreground, -10 none."""
    folder = tiny_checkpoint(project.models_dir / name, foreground=logit)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"images": trained_on}))
    return folder


@pytest.mark.parametrize(
    ("new_logit", "active_logit", "promoted"),
    [(10.0, -10.0, True), (10.0, 10.0, False), (-10.0, 10.0, False)],
    ids=["better", "equal", "worse"],
)
def test_the_panel_activates_only_a_better_version(
    qtbot, tmp_path, new_logit, active_logit, promoted
):
    project = Project.open(make_dataset(tmp_path / "d", n=50, height=16, width=16))
    train, val = versions.training_selection(project)
    assert len(val) == 10
    _version(project, "v001", active_logit, train)
    versions.set_active(project, "v001")
    new = _version(project, "v002", new_logit, train)
    masks = [project.read_labels(project.entry(s)) > 0 for s in val]
    share = sum(int(m.sum()) for m in masks) / sum(m.size for m in masks)  # all-foreground IoU
    assert 0.05 < share < 0.6
    iou = {10.0: share, -10.0: 0.0}

    panel = TrainPanel(auto_estimate=False)
    qtbot.addWidget(panel)
    panel.set_project(project)
    panel.form.set_values(device="cpu")
    panel.run_project, panel.run_dir, panel.val_stems = project, new, val  # as a run leaves them
    activated = []
    panel.activeModelChanged.connect(activated.append)
    panel.process.finished.emit({"event": "done", "stopped": False})  # the run's done line
    assert panel.scoring and not panel.train_btn.isEnabled()
    assert versions.active_version(project).name == "v001"  # nothing decided yet
    qtbot.waitUntil(lambda: not panel.scoring, timeout=60_000)

    assert panel.error_label.text() == ""
    got, new_iou, active_iou = panel.last_result
    assert got is promoted
    assert new_iou == pytest.approx(iou[new_logit], abs=1e-9)
    assert active_iou == pytest.approx(iou[active_logit], abs=1e-9)
    assert versions.active_version(Project.open(project.root)).name == (
        "v002" if promoted else "v001"
    )  # saved in segapp.json
    assert activated == ([str(new)] if promoted else [])
    if_promoted = (
        f"v002 is now the active model: val IoU {share:.3f} vs 0.000 for v001 on the same 10 images"
    )
    if_kept = (
        f"v002 kept but not made active: val IoU {iou[new_logit]:.3f} vs {share:.3f} for v001; "
        "you can make it active in Versions"
    )
    assert panel.status_label.text() == (if_promoted if promoted else if_kept)
    assert panel.train_btn.isEnabled()


def _checking_with(qtbot, tmp_path, monkeypatch, body: str, mark: bool = False):
    """A panel whose run of v002 just ended, v001 active, the check's "check" job running
    ``body`` in its process instead; ``mark``: the run's record awaits the check."""
    import sys

    from segapp.ml import engine_client, unfinished

    code = (
        f"import os, time, segapp.ml.jobs as j; j.JOBS['check'] = lambda *a: {body}; "
        "import segapp.ml.engine_server as s; s.main()"
    )
    monkeypatch.setattr(engine_client, "server_command", lambda: [sys.executable, "-c", code])
    project = Project.open(make_dataset(tmp_path / "d", n=50, height=16, width=16))
    train, val = versions.training_selection(project)
    _version(project, "v001", -10.0, train)
    versions.set_active(project, "v001")
    new = _version(project, "v002", 10.0, train)
    if mark:
        unfinished.mark_unchecked(project, "v002")  # as a run that ended leaves it
    panel = TrainPanel(auto_estimate=False)
    qtbot.addWidget(panel)
    panel.set_project(project)
    panel.form.set_values(device="cpu")
    panel.run_project, panel.run_dir, panel.val_stems = project, new, val
    panel.process.finished.emit({"event": "done", "stopped": False})
    return panel, project


def test_a_crash_in_the_check_costs_the_check_not_the_window(qtbot, tmp_path, monkeypatch):
    """The check runs in a process of its own (segapp.ml.jobs): a native crash there (here:
    abort() while scoring) is said, the active version stays, and Train is usable again."""
    panel, project = _checking_with(qtbot, tmp_path, monkeypatch, "os.abort()")
    qtbot.waitUntil(lambda: not panel.scoring, timeout=60_000)
    assert panel.error_label.text() == (
        "could not score v002: the version check stopped unexpectedly (signal 6); "
        "nothing was changed"
    )
    assert versions.active_version(Project.open(project.root)).name == "v001"
    assert panel.train_btn.isEnabled()


def test_what_the_panel_says_of_each_outcome():
    from segapp.ui.training.promotion import describe

    nan = float("nan")
    assert describe("v001", (True, nan, None), None, 0) == (
        "v001 is now the active model (no validation subset yet to score it on)"
    )
    assert describe("v001", (True, 0.948, None), None, 10) == (
        "v001 is now the active model: val IoU 0.948 on 10 validation images"
    )  # the first version: no "same images" to compare on
    assert describe("v002", (True, 0.9, None), "v001", 10) == (
        "v002 is now the active model: val IoU 0.900 (too few validation images that v001 "
        "did not train on to compare them)"
    )
    assert describe("v002", (True, 0.9, 0.8), "v001", 12) == (
        "v002 is now the active model: val IoU 0.900 vs 0.800 for v001 on the same 12 images"
    )
    assert describe("v002", (False, 0.7, 0.8), "v001", 12).startswith(
        "v002 kept but not made active: val IoU 0.700 vs 0.800 for v001"
    )


def test_a_check_cut_short_by_the_window_closing_is_done_on_the_next_open(
    qtbot, tmp_path, monkeypatch
):
    """The window ends its job processes as it closes (job_process.kill_all): the check in
    flight is dropped without a word, and its record stays for the project's next open."""
    from segapp.ml import job_process, unfinished

    panel, project = _checking_with(qtbot, tmp_path, monkeypatch, "time.sleep(600)", mark=True)
    qtbot.wait(1500)  # the check's process is started and waits
    assert panel.scoring
    job_process.kill_all()
    qtbot.waitUntil(lambda: not panel.scoring, timeout=10_000)
    assert panel.error_label.text() == "" and panel.last_result is None
    assert unfinished.unchecked_version(project).name == "v002"
    assert versions.active_version(project).name == "v001"
