"""One writer per project, seen from the window: a second window, an import, a version that
cannot be made active, temp files a kill left."""

from __future__ import annotations

import json
import shutil

import qt_helpers
from conftest import make_dataset

from segapp.cli.main import main
from segapp.core.imageio import WriteError
from segapp.core.project import Project

make_window = qt_helpers.make_window


def test_a_second_window_on_an_open_project_is_told_so(make_window, tmp_path):
    data = make_dataset(tmp_path / "d", n=3)
    first = make_window(data)
    second = make_window()
    assert not second.open_path(data)
    title, text = second.last_error
    assert title == "Open elsewhere" and "open in another segapp window" in text
    assert second.error_box is not None and second.error_box.isVisible()
    s = first.session  # the first window goes on and saves
    s.doc.begin_stroke(5, 5)
    s.doc.end_stroke()
    assert s.save()
    first.session.close_project()
    assert second.open_path(data)  # free again once the first closed it


def test_an_import_into_a_project_open_in_a_window_is_refused(make_window, tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n=3)
    Project.open(data).save()
    make_window(data)
    before = (data / "segapp.json").read_bytes()
    lm = tmp_path / "lm"
    lm.mkdir()
    shutil.copy(data / "images" / "0.png", lm / "x.png")
    shape = {"label": "cell", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"}
    doc = {"shapes": [shape], "imagePath": "x.png", "imageHeight": 64, "imageWidth": 64}
    (lm / "x.json").write_text(json.dumps(doc))
    assert main(["import", "labelme", str(lm), str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "open in another segapp window" in err[0]
    assert (data / "segapp.json").read_bytes() == before
    assert not (data / "images" / "x.png").exists()


def test_temp_files_left_by_a_kill_are_removed_when_the_window_opens(make_window, tmp_path):
    data = make_dataset(tmp_path / "d", n=2)
    Project.open(data).save()
    left = [data / ".segapp.json.x1y2z3.tmp", data / "masks" / ".1.png.a1b2c3.tmp"]
    for p in left:
        p.write_bytes(b"half written")
    make_window(data)
    assert not any(p.exists() for p in left)


def test_a_version_that_cannot_be_made_active_says_so_in_the_train_panel(
    make_window, tmp_path, monkeypatch
):
    data = make_dataset(tmp_path / "d", n=3)
    Project.open(data).save()
    w = make_window(data)
    panel = w.training.train_panel
    new = qt_helpers.tiny_checkpoint(data / "models" / "v001")
    panel.run_project, panel.run_dir = w.session.project, new

    def full_disk(self):
        raise WriteError(f"{self.meta_path}: the disk is full; free some space and save again")

    monkeypatch.setattr(Project, "save", full_disk)
    panel._promoted(w.session.project, new, (True, 0.8, None))  # a Qt slot: must not raise
    assert "v001 kept but not made active" in panel.status_label.text()
    assert "disk is full" in panel.status_label.text()
    assert w.session.project.extra.get("active_model") is None  # what is on disk
    monkeypatch.undo()
    w.session.close_project()
    assert "active_model" not in json.loads((data / "segapp.json").read_text())
