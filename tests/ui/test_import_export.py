"""File > Import… and File > Export…: the dialogs, the work off the GUI thread, the result."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import qt_helpers
from conftest import make_dataset
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog

from segapp.core.project import Project
from segapp.interop.run import ImportOptions
from segapp.ui.import_export import ImportDialog, start_export, start_import

make_window = qt_helpers.make_window


def labelme_folder(folder: Path, n: int = 3, size: int = 40) -> Path:
    """``n`` labelme JSON files with embedded images: a 'cell' square and a 'nucleus' one."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        image = rng.integers(0, 255, (size, size, 3), np.uint8)
        data = base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()
        shapes = [
            {
                "label": "cell",
                "points": [[2, 2], [20, 2], [20, 20], [2, 20]],
                "shape_type": "polygon",
            },
            {"label": "nucleus", "points": [[25, 25], [35, 35]], "shape_type": "rectangle"},
        ]
        doc = {"shapes": shapes, "imagePath": f"img{i}.png", "imageData": data}
        doc |= {"imageHeight": size, "imageWidth": size, "version": "5.5.0", "flags": {}}
        (folder / f"img{i}.json").write_text(json.dumps(doc))
    return folder


def _wait(qtbot, job) -> None:
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass


def test_import_a_labelme_folder_into_a_new_project(make_window, qtbot, tmp_path):
    w = make_window()
    src = labelme_folder(tmp_path / "lm")
    job = start_import(w, "labelme", str(src), str(tmp_path / "new"), ImportOptions())
    _wait(qtbot, job)
    project = w.session.project
    assert project is not None and project.root == (tmp_path / "new").resolve()
    assert [c.name for c in project.classes] == ["background", "cell", "nucleus"]
    assert all(e.status == "corrected" for e in project.entries) and len(project.entries) == 3
    assert "3 images added, 3 masks written" in job.summary.text()
    job.summary.close()


def test_import_into_the_open_project_saves_closes_and_reopens_it(make_window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "d", n=2, height=40, width=40, masks=0)
    Project.open(data).save()
    w = make_window(data)
    w.session.doc.begin_stroke(5, 5)  # an edit not saved yet
    w.session.doc.end_stroke()
    edited = w.session.current
    job = start_import(
        w, "labelme", str(labelme_folder(tmp_path / "lm")), str(data), ImportOptions()
    )
    _wait(qtbot, job)
    project = w.session.project
    assert len(project.entries) == 5 and project.entry(edited).status == "corrected"
    assert qt_helpers.disk_labels(w, edited)[5, 5] == 1  # the edit was saved first
    job.summary.close()


def test_an_import_that_fails_says_so_and_keeps_the_project_open(make_window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "d", n=2)
    w = make_window(data)
    job = start_import(w, "coco", str(tmp_path / "missing.json"), str(data), ImportOptions())
    _wait(qtbot, job)
    assert w.last_error[0] == "Import failed" and "no such file" in w.last_error[1]
    assert w.session.project is not None and w.session.project.root == data.resolve()


def test_cancelling_an_import_keeps_what_was_imported(make_window, qtbot, tmp_path):
    w = make_window()
    job = start_import(
        w,
        "labelme",
        str(labelme_folder(tmp_path / "lm", n=4)),
        str(tmp_path / "p"),
        ImportOptions(),
    )
    job.cancel_requested.set()  # before the first image is done: it is the only one kept
    _wait(qtbot, job)
    assert "cancelled" in job.summary.text()
    project = Project.open(tmp_path / "p")
    assert len(project.entries) == len(project.corrected()) == 1
    job.summary.close()


def test_export_coco_from_the_window(make_window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "d", n=3)
    w = make_window(data)
    job = start_export(w, "coco", str(tmp_path / "out"))
    _wait(qtbot, job)
    doc = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert len(doc["images"]) == 3 and job.dialog.maximum() == 3
    assert "3 images with their masks" in job.summary.text()
    job.summary.close()


def test_the_import_dialog_offers_each_format_its_options(qtbot, tmp_path):
    dialog = ImportDialog(None, tmp_path)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentText("folders")
    assert dialog.masks.isEnabled() and dialog.suffix.isEnabled()
    dialog.format.setCurrentText("coco")
    assert not dialog.masks.isEnabled() and dialog.images.isEnabled()
    dialog.src.setText("a.json")
    dialog.images.setText("pics")
    dialog.masks.setText("ignored: not a coco option")
    fmt, src, dest, options = dialog.values()
    assert (fmt, src, dest) == ("coco", "a.json", str(tmp_path))
    assert options.images == "pics" and options.masks is None


def test_file_import_from_the_menu(make_window, qtbot, tmp_path):
    w = make_window()
    src = labelme_folder(tmp_path / "lm", n=2)

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, ImportDialog)
        dialog.src.setText(str(src))
        dialog.dest.setText(str(tmp_path / "p"))
        dialog.accept()

    QTimer.singleShot(0, fill)
    w.actions_by_name["import"].trigger()
    assert w.interop_job is not None
    _wait(qtbot, w.interop_job)
    assert w.session.project is not None and len(w.session.project.entries) == 2
    assert isinstance(w.interop_job.summary, QDialog)
    w.interop_job.summary.close()


def test_the_export_dialog_remembers_the_format_and_folder_and_names_a_new_folder(qtbot, tmp_path):
    """It reopened on PROJECT-export each time (walk-through 10), a folder the last export
    had already taken."""
    from PySide6.QtCore import QSettings

    from segapp.ui.import_export import ExportDialog

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    project = make_dataset(tmp_path / "proj", n=1)
    first = ExportDialog(None, project, settings)
    qtbot.addWidget(first)
    assert first.values()[:2] == ("coco", str(tmp_path / "proj-coco"))
    first.format.setCurrentText("voc")  # the suggested name follows the format
    assert first.values()[1] == str(tmp_path / "proj-voc")
    first.format.setCurrentText("coco")
    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    first.dest.setText(str(elsewhere / "mine"))
    first.remember()
    (elsewhere / "proj-coco").mkdir()  # an earlier export's folder: taken

    again = ExportDialog(None, project, settings)
    qtbot.addWidget(again)
    assert again.values()[:2] == ("coco", str(elsewhere / "proj-coco-2"))
    again.dest.textEdited.emit("typed")  # a name typed by hand stays when the format changes
    again.dest.setText(str(elsewhere / "typed"))
    again.format.setCurrentText("yolo")
    assert again.values()[1] == str(elsewhere / "typed")


def test_a_new_summary_replaces_the_last_one(make_window, qtbot, tmp_path):
    """Three finished exports left three boxes open, over the next project too."""
    data = make_dataset(tmp_path / "d", n=2)
    w = make_window(data)
    first = start_export(w, "coco", str(tmp_path / "a"))
    _wait(qtbot, first)
    second = start_export(w, "yolo", str(tmp_path / "b"))
    _wait(qtbot, second)
    boxes = [b for b in w.findChildren(QDialog, "interopSummary") if b.isVisible()]
    assert boxes == [second.summary]
    second.summary.close()
