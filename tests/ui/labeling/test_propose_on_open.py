"""Proposals without Ctrl+P: an unlabeled image gets the chosen model's proposal when shown."""

from __future__ import annotations

import numpy as np
import pytest
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import QSettings
from qt_helpers import drag, tiny_checkpoint, wait_proposal

make_window = qt_helpers.make_window  # the window fixture


@pytest.fixture
def data(tmp_path):
    root = make_dataset(tmp_path / "data", n=5, height=48, width=48, masks=1)  # 0: corrected
    tiny_checkpoint(root / "models" / "fg", foreground=2.0)  # proposes mostly foreground
    return root


def _window(make_window, qtbot, data, on=True):
    """The window on image 1 (the first not corrected), the model chosen: with the setting
    on, 1 is proposed (a model chosen proposes on the unlabeled image shown)."""
    w = make_window(data, propose_on_open=on)
    qtbot.waitUntil(lambda: w.session.current == "1" and w.session.doc is not None)
    assert w.model_panel.select(str(data / "models" / "fg"))
    if on:
        qtbot.waitUntil(lambda: w.session.status_of("1") == ("proposed", False), timeout=30_000)
    return w


def _sent(w, monkeypatch) -> list[str]:
    """The stems the window asks the engine to propose on, from now on."""
    sent, propose = [], w.session.engine.propose
    monkeypatch.setattr(
        w.session.engine, "propose", lambda req: sent.append(req.stem) or propose(req)
    )
    return sent


def test_an_unlabeled_image_is_proposed_when_shown_and_a_corrected_one_is_not(
    make_window, qtbot, data, monkeypatch
):
    w = _window(make_window, qtbot, data)
    assert w.actions_by_name["propose_on_open"].isChecked()
    sent = _sent(w, monkeypatch)
    w.session.select("2")
    qtbot.waitUntil(lambda: w.session.status_of("2") == ("proposed", False), timeout=30_000)
    assert w.session.doc.labels.any() and sent == ["2"]
    w.session.select("0")  # corrected: left alone
    w.session.select("1")  # proposed already: not again
    qtbot.wait(200)
    assert sent == ["2"] and not w.session._pending


def test_an_automatic_proposal_is_shown_not_written_until_edited_or_accepted(
    make_window, qtbot, data
):
    """Browsing wrote every image's automatic proposal into masks/, where any other tool
    reads it as a mask: it is written once the person edits it or marks it corrected."""
    from segapp.ml.versions import plan_split

    w = _window(make_window, qtbot, data)
    masks = data / "masks"
    assert not (masks / "1.png").exists() and not w.session.save_all()  # nothing to write
    assert not (masks / "1.png").exists()
    assert w.session.project.entry("1").status == "unlabeled"
    w.session.select("2")
    qtbot.waitUntil(lambda: w.session.status_of("2") == ("proposed", False), timeout=30_000)
    w.set_tool("eraser")  # the proposal is all foreground: an edit takes some away
    drag(qtbot, w.canvas, [(2, 2), (6, 2)])  # an edit of it: a correction, written
    assert w.session.save()
    entry = w.session.project.entry("2")
    assert entry.status == "corrected" and entry.proposed_by == "fg" and (masks / "2.png").exists()
    assert entry.proposal_iou is not None and entry.proposal_iou < 1.0
    w.session.select("1")  # still shown, still unwritten
    assert w.session.status_of("1") == ("proposed", False) and w.session.doc.labels.any()
    w.session.mark_corrected()  # right as it is
    assert w.session.project.entry("1").status == "corrected" and (masks / "1.png").exists()
    assert {"1", "2"} <= set(plan_split(w.session.project)[0])


def test_edits_that_put_an_automatic_proposal_back_take_its_file_away_again(
    make_window, qtbot, data
):
    """Walk-through 10: Esc after a Click series on an automatic proposal left it written
    in masks/ as "proposed", which the person never asked for. Undo and edits that put it
    back (as Esc does) leave it shown and unwritten again."""
    from segapp.core.tools import Patch

    w = _window(make_window, qtbot, data)
    mask, proposal = data / "masks" / "1.png", w.session.doc.labels.copy()
    w.set_tool("eraser")
    drag(qtbot, w.canvas, [(2, 2), (6, 2)])
    assert w.session.save() and mask.exists()  # the edit: a correction, written
    w.session.undo()
    assert w.session.save() and not mask.exists()
    assert w.session.status_of("1") == ("proposed", False)
    assert w.session.project.entry("1").status == "unlabeled"
    assert "the proposal is back, shown and not saved" in w.statusBar().currentMessage()
    drag(qtbot, w.canvas, [(2, 2), (6, 2)])
    assert w.session.save() and mask.exists()
    w.session.doc.set_window(Patch(0, 0, proposal.copy()))  # as Esc puts it back
    assert w.session.save() and not mask.exists()
    assert w.session.status_of("1") == ("proposed", False)
    w.session.select("2")  # left shown and unwritten, and nothing is lost on leaving
    assert not mask.exists() and w.session.project.entry("1").status == "unlabeled"


def test_a_proposal_that_arrives_after_an_edit_or_a_switch_is_dropped(
    make_window, qtbot, data, monkeypatch
):
    w = _window(make_window, qtbot, data)
    sent = _sent(w, monkeypatch)
    w.session.select("2")
    drag(qtbot, w.canvas, [(2, 2), (6, 2)])  # painted before the proposal came back
    painted = w.session.doc.labels.copy()
    wait_proposal(qtbot, w)
    assert sent == ["2"]
    assert np.array_equal(w.session.doc.labels, painted)  # the strokes stay, alone
    assert w.session.status_of("2")[0] == "corrected"
    w.session.select("3")
    w.session.select("4")  # left 3 before its proposal came: 3 stays unlabeled
    qtbot.waitUntil(lambda: w.session.status_of("4") == ("proposed", False), timeout=30_000)
    assert sent == ["2", "3", "4"]
    assert w.session.status_of("3") == ("unlabeled", False)
    w.session.select("3")  # proposed on the next visit
    qtbot.waitUntil(lambda: w.session.status_of("3") == ("proposed", False), timeout=30_000)


def test_opening_images_faster_than_they_are_proposed_asks_for_the_latest_only(
    make_window, qtbot, data, monkeypatch
):
    w = _window(make_window, qtbot, data)
    sent = _sent(w, monkeypatch)
    for stem in ("2", "3", "4"):  # one request at a time: 2 runs, 4 waits, 3 is skipped
        w.session.select(stem)
    qtbot.waitUntil(lambda: w.session.status_of("4") == ("proposed", False), timeout=30_000)
    assert sent == ["2", "4"]
    assert [w.session.status_of(s)[0] for s in "23"] == ["unlabeled"] * 2


def test_the_setting_turns_it_off_and_is_remembered(
    make_window, qtbot, data, monkeypatch, tmp_path
):
    w = _window(make_window, qtbot, data, on=False)
    qtbot.wait(300)
    assert w.session.status_of("1") == ("unlabeled", False)
    w.actions_by_name["propose_on_open"].setChecked(True)  # turned on: the image shown now
    qtbot.waitUntil(lambda: w.session.status_of("1") == ("proposed", False), timeout=30_000)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert settings.value("propose_on_open", type=bool) is True


def test_nothing_is_proposed_before_a_trained_model_is_chosen(make_window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "fresh", n=3, height=48, width=48, masks=1)  # no model
    w = make_window(data, propose_on_open=True)
    qtbot.waitUntil(lambda: w.session.current == "1" and w.session.doc is not None)
    w.session.select("2")
    qtbot.wait(300)
    assert w.session.status_of("2") == ("unlabeled", False) and not w.session._pending
    assert w.last_error is None  # and no dialog: an untrained preset is silently no proposer


def test_ctrl_p_over_a_shown_proposal_writes_it_as_asked(make_window, qtbot, data):
    """The same labels again made no change, so the proposal asked for stayed unwritten."""
    w = _window(make_window, qtbot, data)
    w.propose()
    wait_proposal(qtbot, w)
    assert w.session.status_of("1") == ("proposed", True)
    assert w.session.save() and (data / "masks" / "1.png").exists()
    assert w.session.project.entry("1").status == "proposed"


def test_propose_all_writes_the_shown_proposal_too(make_window, qtbot, data):
    """It counted the image on screen as proposed but never wrote it (walk-through 6, #1):
    the same labels again left its document clean, so the save wrote nothing."""
    w = _window(make_window, qtbot, data)
    assert not (data / "masks" / "1.png").exists()  # shown, not written
    assert w.session.propose_all(str(data / "models" / "fg")) == 4
    qtbot.waitUntil(lambda: not w.session.batch_running, timeout=30_000)
    for stem in "1234":
        assert (data / "masks" / f"{stem}.png").exists(), stem
        assert w.session.project.entry(stem).status == "proposed"
    assert w.session.status_of("1") == ("proposed", False)
    assert "4 of 4 images proposed" in w.statusBar().currentMessage()


def test_a_newer_model_replaces_the_untouched_proposals_the_last_one_showed(
    make_window, qtbot, data, monkeypatch
):
    """After a round a new version is active, but the images it had proposed on still showed
    the last version's proposal: an automatic one, unwritten and untouched, is proposed again
    by the model now chosen (on screen at once, elsewhere on the next visit); an edited one,
    and one asked for, stay as they are."""
    tiny_checkpoint(data / "models" / "bg", foreground=-10.0)  # proposes no foreground
    w = _window(make_window, qtbot, data)  # 1 shown, proposed by fg
    w.session.select("2")
    qtbot.waitUntil(lambda: w.session.status_of("2") == ("proposed", False), timeout=30_000)
    w.set_tool("eraser")
    drag(qtbot, w.canvas, [(2, 2), (6, 2)])  # 2: fg's proposal, edited
    edited = w.session.doc.labels.copy()
    w.session.select("3")
    w.propose()  # 3: asked for, written
    wait_proposal(qtbot, w)
    assert w.session.save() and w.session.project.entry("3").status == "proposed"
    w.session.select("1")
    sent = _sent(w, monkeypatch)
    assert w.model_panel.select(str(data / "models" / "bg"))  # as a promoted version is
    qtbot.waitUntil(lambda: w.session.state.proposed_by == "bg", timeout=30_000)
    assert sent == ["1"] and not w.session.doc.labels.any()  # bg's proposal, shown
    assert w.session.status_of("1") == ("proposed", False) and not (data / "masks/1.png").exists()
    for stem in ("2", "3"):
        w.session.select(stem)
    qtbot.wait(300)
    assert sent == ["1"] and not w.session._pending
    assert w.session.state.proposed_by == "fg" and w.session.doc.labels.any()  # 3 as written
    w.session.select("2")
    assert np.array_equal(w.session.doc.labels, edited)
