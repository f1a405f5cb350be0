"""A full disk and a read-only folder, through the window's save, import, export, train and
predict: one line (exit code 2) or a dialog, the edit kept in memory, nothing saved lost.

Tests run as root on CI, where chmod does not stop a write, so both faults are made by
monkeypatching the calls that write: a read-only folder refuses to open files for writing
in it (EACCES); a full disk accepts the open and fails the write or the fsync (ENOSPC).
"""

from __future__ import annotations

import builtins
import errno
import os
import sys
from pathlib import Path

import fault_fixtures
import pytest
import qt_helpers
from fault_corpus import good_project
from fault_fixtures import snapshot

from segapp.cli.main import main
from segapp.core.imageio import is_temp_file

good_model = fault_fixtures.good_model
make_window = qt_helpers.make_window

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fds named by /proc/self/fd")

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _inside(path, folder: Path) -> bool:
    try:
        return Path(os.path.abspath(os.fsdecode(path))).is_relative_to(folder)
    except (TypeError, ValueError):
        return False


def _fd_inside(fd: int, folder: Path) -> bool:
    try:
        return _inside(os.readlink(f"/proc/self/fd/{fd}"), folder)
    except OSError:
        return False


def unwritable(monkeypatch, folder: Path, fault: str) -> None:
    """Make ``folder`` read-only (``fault`` = "read-only") or full ("full")."""
    folder = folder.resolve()
    code = errno.EACCES if fault == "read-only" else errno.ENOSPC
    real_open, real_write, real_fsync = os.open, os.write, os.fsync
    real_mkdir, real_builtin_open = os.mkdir, builtins.open

    def fail(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    def os_open(path, flags, *a, **kw):
        if fault == "read-only" and flags & WRITE_FLAGS and _inside(path, folder):
            fail(path)
        return real_open(path, flags, *a, **kw)

    def os_write(fd, data):
        if fault == "full" and _fd_inside(fd, folder):
            fail(f"fd {fd}")
        return real_write(fd, data)

    def os_fsync(fd):
        if fault == "full" and _fd_inside(fd, folder):
            fail(f"fd {fd}")
        return real_fsync(fd)

    def mkdir(path, *a, **kw):
        if fault == "read-only" and _inside(path, folder):
            fail(path)
        return real_mkdir(path, *a, **kw)

    def builtin_open(file, mode="r", *a, **kw):
        writes = any(m in mode for m in "wax+") and isinstance(file, str | os.PathLike)
        if writes and _inside(file, folder):
            fail(file)
        return real_builtin_open(file, mode, *a, **kw)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(os, "write", os_write)
    monkeypatch.setattr(os, "fsync", os_fsync)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(builtins, "open", builtin_open)


def _cli(argv, capsys) -> tuple[int, list[str]]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if is_temp_file(p.name)]


FAULTS = ("read-only", "full")


@pytest.mark.parametrize("fault", FAULTS)
def test_import_into_an_unwritable_project(fault, tmp_path, monkeypatch, capsys):
    project = good_project(tmp_path / "project")
    source = good_project(tmp_path / "source", n=5)
    before = snapshot(project)
    unwritable(monkeypatch, project, fault)
    code, err = _cli(["import", "folders", source, project], capsys)
    monkeypatch.undo()
    assert code == 2 and err and all(line.startswith("segapp: ") for line in err), err
    assert snapshot(project) == before and _no_temp_files(project)


@pytest.mark.parametrize("fault", FAULTS)
def test_export_to_an_unwritable_folder(fault, tmp_path, monkeypatch, capsys):
    project = good_project(tmp_path / "project")
    (tmp_path / "out").mkdir()
    unwritable(monkeypatch, tmp_path / "out", fault)
    code, err = _cli(["export", "coco", project, tmp_path / "out" / "coco"], capsys)
    monkeypatch.undo()
    assert code == 2 and len(err) == 1 and err[0].startswith("segapp: error: "), err
    assert not list((tmp_path / "out").iterdir())  # nothing half written


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("command", ["train", "predict"])
def test_train_and_predict_into_an_unwritable_folder(
    fault, command, tmp_path, monkeypatch, capsys, good_model
):
    project = good_project(tmp_path / "project")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "run"
    if command == "train":
        argv = ["train", project, "--out", out, "--model", "unet-small", "--epochs", "1"]
        argv += ["--size", "32", "--device", "cpu", "--time-budget", "0", "--json"]
    else:
        argv = ["predict", good_model, project / "images", "--out", out, "--json"]
    before = snapshot(project)
    unwritable(monkeypatch, tmp_path / "out", fault)
    code, err = _cli(argv, capsys)
    monkeypatch.undo()
    assert code == 2 and len(err) == 1 and err[0].startswith("segapp: error: "), err
    assert snapshot(project) == before and _no_temp_files(tmp_path)


@pytest.mark.parametrize("fault", FAULTS)
def test_the_window_keeps_an_edit_it_cannot_save(fault, make_window, tmp_path, monkeypatch):
    project = good_project(tmp_path / "project")
    w = make_window(project)
    s = w.session
    before = snapshot(project)
    stem = s.current
    unwritable(monkeypatch, project, fault)
    s.doc.begin_stroke(3, 3)
    s.doc.end_stroke()
    assert not s.save()
    assert w.last_error[0] == "Could not save the mask" and w.error_box.isVisible()
    assert s.doc.dirty and s.doc.labels[3, 3] == 1  # kept in memory
    monkeypatch.undo()
    assert snapshot(project) == before and _no_temp_files(project)
    assert s.save() and qt_helpers.disk_labels(w, stem)[3, 3] == 1  # space freed: saved
