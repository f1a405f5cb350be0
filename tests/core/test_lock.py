"""One writer per project: the lock, its stale-lock recovery, temp files, stale copies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import make_dataset

from segapp.core.imageio import WriteError
from segapp.core.lock import LOCK_FILE, ProjectLock, ProjectLockedError, open_for_writing
from segapp.core.project import Project

_HOLD = """
import sys
from segapp.core.lock import ProjectLock
ProjectLock(sys.argv[1], "import").acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_a_second_writer_is_told_where_the_project_is_open(tmp_path):
    data = make_dataset(tmp_path / "d", n=2)
    project, lock = open_for_writing(data)
    assert lock.held and (data / LOCK_FILE).exists()
    with pytest.raises(ProjectLockedError, match=f"another segapp window \\(process {os.getpid()}"):
        open_for_writing(data)
    lock.release()
    assert not (data / LOCK_FILE).exists()  # nothing left in the person's folder
    _, again = open_for_writing(data)
    again.release()


def test_a_lock_held_by_another_process_then_left_by_its_crash(tmp_path):
    data = make_dataset(tmp_path / "d", n=2)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(data)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(ProjectLockedError, match=f"an import \\(process {holder.pid}"):
            open_for_writing(data)
    finally:
        holder.send_signal(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        holder.wait()
    assert json.loads((data / LOCK_FILE).read_text())["pid"] == holder.pid  # left by the crash
    project, lock = open_for_writing(data)  # stale: taken over
    assert json.loads((data / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()


def test_a_stale_record_without_os_locks_is_taken_over(tmp_path, monkeypatch):
    """Where the file system has no OS lock, the record decides: a dead process's is stale."""
    import segapp.core.lock as lock_module

    def no_flock(self, fd):
        raise OSError(38, "Function not implemented")

    data = make_dataset(tmp_path / "d", n=1)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    record = {"pid": int(dead.stdout), "host": lock_module.socket.gethostname()}
    (data / LOCK_FILE).write_text(json.dumps(record))
    monkeypatch.setattr(lock_module, "_WINDOWS", False)
    import fcntl

    monkeypatch.setattr(fcntl, "flock", lambda fd, op: no_flock(None, fd))
    lock = ProjectLock(data)
    assert lock.acquire()
    lock.release()
    (data / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": record["host"]}))
    with pytest.raises(ProjectLockedError):
        ProjectLock(data).acquire()


def test_a_read_only_folder_opens_unlocked(tmp_path, monkeypatch):
    data = make_dataset(tmp_path / "d", n=1)
    real_open = os.open

    def refuse(path, flags, *a, **kw):
        if str(path).endswith(LOCK_FILE):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", refuse)
    project, lock = open_for_writing(data)
    assert not lock.held and project.entries


def test_temp_files_left_by_a_kill_are_removed_when_the_writer_opens(tmp_path):
    data = make_dataset(tmp_path / "d", n=2)
    Project.open(data).save()
    left = [
        data / ".segapp.json.abc123.tmp",
        data / "masks" / ".0.png.k2j3h4.tmp",
        data / "images" / ".5.png.copy.tmp",
    ]
    for p in left:
        p.write_bytes(b"half")
    mine = [data / "images" / ".notes.tmp", data / "keep.tmp"]  # not segapp's: kept
    for p in mine:
        p.write_bytes(b"x")
    Project.open(data)  # a reader (segapp train) removes nothing: a save may be under way
    assert all(p.exists() for p in left)
    _, lock = open_for_writing(data)
    lock.release()
    assert not any(p.exists() for p in left) and all(p.exists() for p in mine)


def test_segapp_json_is_never_rewritten_from_a_stale_copy(tmp_path):
    data = make_dataset(tmp_path / "d", n=2)
    first = Project.open(data)
    first.save()
    other = Project.open(data)
    other.classes[1].name = "cell"
    other.save()  # someone else's save after `first` read the file
    first.classes[1].name = "stale"
    with pytest.raises(WriteError, match="changed by another program"):
        first.save()
    assert Project.open(data).classes[1].name == "cell"
    first = Project.open(data)  # reopened: saves again
    first.save()
