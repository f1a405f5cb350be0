"""versions.effort_stats: the mean cost per corrected image of each proposing model."""

from __future__ import annotations

import pytest
from conftest import make_dataset

from segapp.core.effort import Effort
from segapp.core.project import Project
from segapp.ml import versions


def test_mean_effort_per_corrected_image_of_each_version(tmp_path):
    project = Project.open(make_dataset(tmp_path / "d", n=6, height=32, width=32))
    cases = {  # stem: (status, proposed_by, effort)
        "0": ("corrected", "v001", Effort(clicks=2, strokes=6, fills=1, seconds=40.0)),
        "1": ("corrected", "v001", Effort(clicks=0, strokes=2, polygons=1, seconds=20.0)),
        "2": ("corrected", "v002", Effort(clicks=1, strokes=1, seconds=9.5)),
        "3": ("corrected", "v002", None),  # corrected before effort was recorded
        "4": ("proposed", "v002", Effort(seconds=3.0)),  # still being corrected
        "5": ("corrected", None, Effort(strokes=30, seconds=300.0)),  # by hand, no model
    }
    for stem, (status, by, effort) in cases.items():
        e = project.entry(stem)
        e.status, e.proposed_by, e.effort = status, by, effort
    stats = versions.effort_stats(project)
    assert set(stats) == {"v001", "v002"}
    v1, v2 = stats["v001"], stats["v002"]
    assert (v1.images, v1.clicks, v1.strokes, v1.fills, v1.polygons) == (2, 1.0, 4.0, 0.5, 0.5)
    assert v1.seconds == pytest.approx(30.0)
    assert (v2.images, v2.clicks, v2.strokes, v2.seconds) == (1, 1.0, 1.0, 9.5)
    assert versions.effort_stats(Project.open(make_dataset(tmp_path / "e", n=1))) == {}
