"""The threshold slider: remembered per project, and it says what it changes and what the
image shown was proposed at."""

from __future__ import annotations

import numpy as np
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import Qt
from qt_helpers import drag, key, tiny_checkpoint, wait_proposal

make_window = qt_helpers.make_window


def _propose(qtbot, w) -> None:
    key(qtbot, w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    wait_proposal(qtbot, w)


def test_the_slider_says_what_it_changes_and_is_kept_per_project(make_window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "data", n=4, height=48, width=48, masks=0)
    other = make_dataset(tmp_path / "other", n=2, height=32, width=32, masks=0)
    model = str(tiny_checkpoint(data / "models" / "fg", foreground=2.0))  # sigmoid 0.88
    w = make_window(data)
    mp, s = w.model_panel, w.session
    assert mp.select(model) and mp.threshold() == 0.5
    s.select("0")
    _propose(qtbot, w)
    assert s.doc.labels.all() and s.proposal_threshold() == 0.5
    assert not mp.image_threshold.isVisibleTo(w)

    s.select("1")  # nothing proposed here: the slider only sets the next proposals
    mp.slider.setValue(95)
    assert "threshold 0.95: for the next proposals (Propose" in w.statusBar().currentMessage()
    s.select("0")  # proposed at 0.50: the panel says so, and the mask stays as it was
    assert s.doc.labels.all()
    assert mp.image_threshold.isVisibleTo(w)
    assert "this image was proposed at 0.50" in mp.image_threshold.text()

    mp.slider.setValue(90)  # re-thresholds the untouched proposal: 0.88 is below 0.90
    qtbot.waitUntil(lambda: not s.doc.labels.any(), timeout=10_000)
    assert s.proposal_threshold() == 0.9 and not mp.image_threshold.isVisibleTo(w)

    s.select("2")
    mp.slider.setValue(50)
    _propose(qtbot, w)
    key(qtbot, w, Qt.Key.Key_E)  # the eraser
    drag(qtbot, w.canvas, [(10, 10), (20, 10)])
    edited = s.doc.labels.copy()
    assert not edited.all()
    mp.slider.setValue(60)  # an edited proposal stays as it is, and the bar says so
    assert (s.doc.labels == edited).all()
    said = w.statusBar().currentMessage()
    assert "threshold 0.60: for the next proposals; 2's proposal is edited" in said
    mp.slider.setValue(90)

    assert w.open_path(other)  # another project: its own (the default)
    assert mp.threshold() == 0.5
    assert w.open_path(data)  # back: as it was left
    assert mp.threshold() == 0.9
    later = make_window()  # the next session's window (the same settings)
    assert later.open_path(other) and later.model_panel.threshold() == 0.5


def test_a_saved_proposals_threshold_is_said_in_a_later_session(make_window, tmp_path):
    """Walk-through 9: after reopening, the panel no longer said at which threshold the image
    shown was proposed (segapp.json kept none)."""
    from segapp.core.project import Project

    data = make_dataset(tmp_path / "data", n=3, height=32, width=32, masks=0)
    tiny_checkpoint(data / "models" / "fg", foreground=2.0)
    project = Project.open(data)  # an earlier session's proposal, saved at 0.60
    entry = project.entry("2")
    entry.proposed_at = 0.6
    project.write_labels(entry, np.ones((32, 32), np.uint8), "proposed", "fg")
    project.save()
    w = make_window(data)
    mp, s = w.model_panel, w.session
    s.select("0")
    mp.slider.setValue(90)  # (nothing proposed on 0: only the next proposals)
    s.select("2")
    assert s.proposal_threshold() == 0.6
    assert mp.image_threshold.isVisibleTo(w)
    assert "this image was proposed at 0.60" in mp.image_threshold.text()
