"""Suggest next image (N / the list's button): the image least like those corrected."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import qt_helpers
from PySide6.QtCore import Qt
from qt_helpers import key, tiny_checkpoint

from segapp.ml import uncertainty, versions
from segapp.ui.labeling import suggest

make_window = qt_helpers.make_window  # the window fixture


def _picture(kind: str, seed: int) -> np.ndarray:
    """A portrait (skin-coloured blob on grey) or a street (sky over dark road), BGR."""
    rng = np.random.default_rng(seed)
    img = np.zeros((48, 64, 3), np.uint8)
    if kind == "street":
        img[:24], img[24:] = (240, 190, 150), (70, 60, 60)
    else:
        img[:], img[12:36, 20:44] = (128, 128, 128), (140, 170, 220)
    return np.clip(img + rng.integers(-8, 8, img.shape), 0, 255).astype(np.uint8)


def _project(root):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    kinds = ["portrait"] * 4 + ["street"] * 2  # in file order: the streets come last
    for i, kind in enumerate(kinds):
        cv2.imwrite(str(root / "images" / f"{i}.png"), _picture(kind, i))
    mask = np.zeros((48, 64), np.uint8)
    mask[12:36, 20:44] = 255
    for i in (0, 1):  # two portraits corrected
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)
    return root


def test_n_goes_to_the_least_alike_and_never_twice_to_a_skipped_one(make_window, qtbot, tmp_path):
    w = make_window(_project(tmp_path / "p"))
    assert w.session.current == "2"  # the first image still to do: a portrait
    messages = []
    w.session.message.connect(messages.append)
    with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=10_000) as first:
        key(qtbot, w, Qt.Key.Key_N)
    assert first.args[0] in ("4", "5") and w.session.current == first.args[0]
    assert any(m.startswith("Suggest: comparing 6 images") for m in messages)
    assert "least like the 2 corrected so far and the one you were on" in messages[-1]
    # left uncorrected: the next suggestion is the other street, not this one again
    with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=5_000) as second:
        w.image_list.suggest_button.click()
    assert {first.args[0], second.args[0]} == {"4", "5"}
    with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=5_000) as third:
        key(qtbot, w, Qt.Key.Key_N)
    assert third.args[0] == "3"  # a portrait neither corrected nor skipped
    with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=5_000) as fourth:
        key(qtbot, w, Qt.Key.Key_N)
    assert fourth.args[0] == "2"  # where the window opened: not skipped, only passed
    key(qtbot, w, Qt.Key.Key_N)
    assert messages[-1] == "Suggest: every other image is corrected or was skipped"
    assert w.session.current == "2"


def _project_with_version(root):
    """The project above, with a version v001 (a tiny real checkpoint) active."""
    from segapp.core.project import Project

    project = Project.open(_project(root))
    tiny_checkpoint(project.models_dir / "v001", export=False)
    versions.set_active(project, "v001")
    return project.root, project


def test_with_a_trained_version_n_weighs_how_unsure_it_is(
    make_window, qtbot, tmp_path, monkeypatch
):
    """Once a version is active, each candidate's distance is weighted by that version's
    uncertainty (scored once per version and image, off the GUI thread); a version that
    cannot score leaves the colour layout alone to choose."""
    root, project = _project_with_version(tmp_path / "p")
    calls = []

    def unsure_of_3(process, project_root, model, stems, max_seconds, progress):
        calls.append((Path(model).name, sorted(stems)))
        return {s: (1.0 if s == "3" else 0.001) for s in stems}

    monkeypatch.setattr(suggest, "score_in_process", unsure_of_3)
    w = make_window(root)
    assert w.session.current == "2"
    messages = []
    w.session.message.connect(messages.append)
    with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=10_000) as first:
        key(qtbot, w, Qt.Key.Key_N)
    # a portrait like those corrected, but the one v001 is unsure of, not a street it knows
    assert first.args[0] == "3"
    assert calls == [("v001", ["3", "4", "5"])]  # not the corrected ones, nor the one on screen
    assert "Suggest: finding which images v001 is unsure of…" in messages
    assert messages[-1] == (
        "Suggested 3: unlike the 2 corrected so far and the one you were on, and v001 is "
        "unsure of it"
    )
    with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=5_000) as second:
        key(qtbot, w, Qt.Key.Key_N)  # 3 left uncorrected: the streets remain
    # scored once per version; "2", on screen then, weighs the others' mean
    assert second.args[0] in ("4", "5") and len(calls) == 1

    tiny_checkpoint(project.models_dir / "v002", export=False)
    versions.set_active(w.session.project, "v002")

    def broken(*args, **kwargs):
        raise RuntimeError("no memory left")

    monkeypatch.setattr(suggest, "score_in_process", broken)
    with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=5_000) as third:
        key(qtbot, w, Qt.Key.Key_N)
    assert "Suggest: v002 could not score images (no memory left)" in messages
    assert third.args[0] in ("4", "5", "2") and "the image least like" in messages[-1]

    # out of time (large images tile slowly): what it did not read weighs the mean
    tiny_checkpoint(project.models_dir / "v003", export=False)
    versions.set_active(w.session.project, "v003")
    monkeypatch.setattr(uncertainty, "MAX_SECONDS", -1.0)
    asked = []

    def honours_the_deadline(process, project_root, model, stems, max_seconds, progress):
        asked.append(max_seconds)
        return {} if max_seconds < 0 else {s: 0.5 for s in stems}

    monkeypatch.setattr(suggest, "score_in_process", honours_the_deadline)
    with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=5_000):
        key(qtbot, w, Qt.Key.Key_N)
    assert asked == [-1.0] and "the image least like" in messages[-1]
    assert set(w.image_list.suggester.uncertainty["v003"].values()) == {None}


def test_a_newly_active_version_reads_the_images_before_the_next_n(
    make_window, qtbot, tmp_path, monkeypatch
):
    """Once N has been used, a version made active (by a run or in Versions) scores the
    images at once, without leaving the image on screen; the next N then does not wait."""
    root, project = _project_with_version(tmp_path / "p")
    calls = []

    def scores(process, project_root, model, stems, max_seconds, progress):
        calls.append(Path(model).name)
        return {s: 0.5 for s in stems}

    monkeypatch.setattr(suggest, "score_in_process", scores)
    w = make_window(root)
    suggester = w.image_list.suggester
    with qtbot.waitSignal(suggester.suggested, timeout=10_000) as first:
        key(qtbot, w, Qt.Key.Key_N)
    assert calls == ["v001"]

    v2 = tiny_checkpoint(w.session.project.models_dir / "v002", export=False)
    versions.set_active(w.session.project, "v002")
    moved = []
    suggester.suggested.connect(moved.append)
    w.training.versions_panel.activeModelChanged.emit(str(v2))
    qtbot.waitUntil(lambda: "v002" in suggester.uncertainty, timeout=5_000)
    qtbot.wait(50)  # a queued move would land here
    assert calls == ["v001", "v002"] and moved == [] and w.session.current == first.args[0]
    with qtbot.waitSignal(suggester.suggested, timeout=1_000):
        key(qtbot, w, Qt.Key.Key_N)
    assert calls == ["v001", "v002"]  # read before: no second reading


def test_the_first_suggestion_does_not_speak_of_zero_corrected_images():
    from segapp.ui.labeling.suggest import _said

    assert _said("7", 0, 1, None) == "Suggested 7: the image least like the one you were on"
    assert _said("7", 0, 0, None) == "Suggested 7: an image to start with"
    assert _said("7", 0, 3, None) == "Suggested 7: the image least like the 3 you saw and left"
    assert _said("7", 2, 0, None) == "Suggested 7: the image least like the 2 corrected so far"
    assert _said("7", 2, 1, "v001") == (
        "Suggested 7: unlike the 2 corrected so far and the one you were on, and v001 is "
        "unsure of it"
    )


def test_with_nothing_corrected_n_tours_the_kinds_of_image_not_the_file_order(
    make_window, qtbot, tmp_path
):
    """Each N after the first went to the next file: the image just skipped fell out of the
    distances, so every distance was infinite (walk-through 6, #2)."""
    root = tmp_path / "p"
    (root / "images").mkdir(parents=True)
    kinds = ["portrait", "portrait", "street", "street", "field", "field"]  # in file order
    for i, kind in enumerate(kinds):
        if kind == "field":  # a third kind: green grass
            img = np.full((48, 64, 3), (40, 160, 60), np.uint8) + np.uint8(i)
        else:
            img = _picture(kind, i)
        cv2.imwrite(str(root / "images" / f"{i}.png"), img)
    w = make_window(root)
    assert w.session.current == "0"
    went = []
    for _ in range(3):
        with qtbot.waitSignal(w.image_list.suggester.suggested, timeout=10_000) as sig:
            key(qtbot, w, Qt.Key.Key_N)
        went.append(sig.args[0])
    # one of each kind (it went street or field, then "0", then "1": two portraits)
    assert sorted(kinds[int(s)] for s in went) == ["field", "portrait", "street"], went
