"""The versions table: columns, the active mark, Make active, Compare on this image."""

from __future__ import annotations

import pytest
from conftest import make_dataset
from PySide6.QtCore import Qt

from segapp.core.effort import Effort
from segapp.core.project import Project
from segapp.ml import versions
from segapp.ui.training.versions_panel import COLUMNS, VersionsPanel


def _save_version(project: Project, name: str, seed: int, base: str = "unet-small") -> None:
    import torch

    from segapp.ml.checkpoint import save_checkpoint
    from segapp.ml.registry import create_model, preset_spec

    torch.manual_seed(seed)
    spec = preset_spec("unet-small")
    extra = {
        "base_model": base,
        "images": ["0", "1", "2"],
        "metrics": {"val_iou": 0.5 + seed / 10},
        "created": f"2024-05-0{seed}T10:00:00+00:00",
        "train": {"size": 32, "resize_mode": "resize"},
    }
    save_checkpoint(project.models_dir / name, create_model(spec), spec, extra)


@pytest.fixture
def project(tmp_path) -> Project:
    project = Project.open(make_dataset(tmp_path / "data", n=4, height=40, width=40))
    _save_version(project, "v001", 1)
    _save_version(project, "v002", 2, base=str(project.models_dir / "v001"))
    versions.set_active(project, "v002")
    e = project.entry("0")
    e.proposed_by, e.proposal_iou = "v001", 0.8
    e = project.entry("1")
    e.proposed_by, e.proposal_iou = "v001", 0.6
    return project


def _row(panel: VersionsPanel, name: str) -> dict[str, str]:
    t = panel.table
    for r in range(t.rowCount()):
        if t.item(r, 0).data(Qt.ItemDataRole.UserRole) == name:
            return {COLUMNS[c]: t.item(r, c).text() for c in range(t.columnCount())}
    raise KeyError(name)


def test_table_marks_the_active_version_and_shows_proposal_stats(qtbot, project):
    panel = VersionsPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    assert panel.table.rowCount() == 2
    assert panel.table.item(0, 0).text() == "● v002"  # newest first, active marked
    assert panel.table.item(0, 0).font().bold()
    v1, v2 = _row(panel, "v001"), _row(panel, "v002")
    assert v1["Version"] == "v001" and v1["Val IoU"] == "0.600"
    assert v1["Corrected"] == "2" and v1["Proposal IoU"] == "0.700"
    assert v2["Base model"] == "v001 (unet-small)" and v2["Images"] == "3"
    assert v2["Created"] == "2024-05-02 10:00"


def test_effort_columns_and_the_seconds_per_mask_plot(qtbot, project):
    project.entry("0").effort = Effort(clicks=2, strokes=6, fills=1, seconds=40.0)
    project.entry("1").effort = Effort(strokes=2, polygons=1, seconds=20.0)
    panel = VersionsPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    assert panel.plot is None  # pyqtgraph is imported once the tab is shown
    v1, v2 = _row(panel, "v001"), _row(panel, "v002")
    assert (v1["Clicks/mask"], v1["Strokes/mask"], v1["Seconds/mask"]) == ("1.0", "4.0", "30")
    assert (v2["Clicks/mask"], v2["Strokes/mask"], v2["Seconds/mask"]) == ("—", "—", "—")
    panel.show()
    qtbot.waitUntil(lambda: panel.plot is not None, timeout=5000)
    xs, ys = panel.plot.curve.getData()
    assert (list(xs), list(ys)) == ([0], [30.0])  # v001 at its place; v002 has no point yet
    for side in ("bottom", "left"):  # one point: no "(x0.001)" scaling its axis
        axis = panel.plot.getAxis(side)
        axis.setRange(-0.004, 0.004)  # as a lone point's range is
        assert axis.autoSIPrefixScale == 1.0 and "x0" not in axis.labelString()
    e = project.entry("2")
    e.proposed_by, e.effort = "v002", Effort(clicks=1, strokes=1, seconds=9.6)
    panel.refresh()  # (the dock refreshes the tab as masks are saved)
    v2 = _row(panel, "v002")
    assert (v2["Clicks/mask"], v2["Strokes/mask"], v2["Seconds/mask"]) == ("1.0", "1.0", "10")
    xs, ys = panel.plot.curve.getData()
    assert (list(xs), list(ys)) == ([0, 1], [30.0, 9.6])  # the loop pays off


def test_make_active_switches_and_back(qtbot, project):
    panel = VersionsPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    assert panel.select("v002")
    assert not panel.active_btn.isEnabled()  # already active
    panel.select("v001")
    with qtbot.waitSignal(panel.activeModelChanged) as sig:
        qtbot.mouseClick(panel.active_btn, Qt.MouseButton.LeftButton)
    assert sig.args == [str(project.models_dir / "v001")]
    assert Project.open(project.root).extra[versions.ACTIVE_KEY] == "v001"  # saved
    assert _row(panel, "v001")["Version"] == "● v001"
    panel.select("v002")
    panel.make_active()
    assert versions.active_version(project).name == "v002"


def test_compare_on_this_image(qtbot, project):
    panel = VersionsPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    panel.device = "cpu"
    image = project.read_image(project.entry("2"))
    panel.image_provider = lambda: ("2", image)
    panel.select("v001")
    qtbot.mouseClick(panel.compare_btn, Qt.MouseButton.LeftButton)
    dialog = panel.dialog
    assert dialog is not None and dialog.isVisible()
    assert (dialog.combo_a.currentText(), dialog.combo_b.currentText()) == ("v001", "v002")
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30_000)
    assert set(dialog.labels) == {"v001", "v002"}, dialog.errors
    assert dialog.labels["v001"].shape == image.shape[:2]
    assert not dialog.views["diff"].pixmap().isNull()
    assert "agree on" in dialog.summary.text()
    assert "IoU with the saved mask" in dialog.captions["a"].text()  # "2" is corrected
    dialog.close()


def _panel_with_v001_ending(qtbot, project, last: dict) -> VersionsPanel:
    """The panel of a project whose v001 run left ``last`` (its ``last/`` state)."""
    import json

    (project.models_dir / "v001" / "last").mkdir()
    (project.models_dir / "v001" / "last" / "config.json").write_text(json.dumps({"state": last}))
    panel = VersionsPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    return panel


def test_a_version_whose_run_was_stopped_or_cut_off_says_so(qtbot, project):
    """A version kept from a stopped run looked like any other in the table."""
    last = {"epoch": 3, "planned_epochs": 8, "history": [{"epoch": 3, "stopped": True}]}
    panel = _panel_with_v001_ending(qtbot, project, last)
    assert _row(panel, "v001")["Version"] == "v001 (stopped)"
    assert _row(panel, "v002")["Version"] == "● v002"  # no record: nothing said
    item = panel.table.item(1, 0)
    assert item.toolTip() == "its run stopped after 3 of 8 epochs"
    assert panel.select("v001")  # the name still selects it


def test_a_version_the_time_budget_cut_says_what_share_it_took(qtbot, project):
    """v001 ran 12 of its 96 planned steps and looked like a whole round."""
    history = [{"epoch": 1, "stopped": False, "steps_done": 12, "steps": 12, "steps_planned": 96}]
    last = {"epoch": 1, "planned_epochs": 1, "history": history}
    panel = _panel_with_v001_ending(qtbot, project, last)
    assert _row(panel, "v001")["Version"] == "v001 (12/96 steps)"
    assert panel.table.item(1, 0).toolTip().startswith("its run took 12 of the 96 steps planned")
