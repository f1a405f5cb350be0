"""One writer per project: ``.segapp.lock`` in the project folder, held while a window (or an
import) has the project open.

The lock is the operating system's (``flock`` on Linux and macOS, ``msvcrt.locking`` on
Windows): it ends with the process that holds it, so a crash never leaves a project locked.
The file itself records who holds it (process id, host, what for, since when) so that a
second window or an import can say where the project is open. Where the OS lock is not
available (some network file systems) the record alone decides: a record of a process that
no longer runs on this host is stale and taken over. A folder where no lock file can be
made (read-only) opens without one: nothing can be written there anyway.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from segapp.core.project import Project
from segapp.core.project_file import ProjectError

log = logging.getLogger(__name__)

LOCK_FILE = ".segapp.lock"
_WINDOWS = sys.platform == "win32"
_WIN_OFFSET = 1 << 30  # Windows locks a byte range: one far past the record


class ProjectLockedError(ProjectError):
    """Another segapp window or import has the project open."""


class ProjectLock:
    """The lock of the project at ``root``; ``purpose`` says who holds it ("window" ...)."""

    def __init__(self, root: str | os.PathLike, purpose: str = "window") -> None:
        self.path = Path(root) / LOCK_FILE
        self.purpose = purpose
        self._fd: int | None = None
        self._os_lock = False
        self.unwritable = ""  # why the folder could hold no lock file (read-only ...)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock: True when held, False when the folder cannot hold a lock file
        (read-only); ProjectLockedError when someone else holds it."""
        if self._fd is not None:
            return True
        for _ in range(5):  # the holder may remove the file between our open and lock
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                log.warning("%s: no lock file (%s); the project opens unlocked", self.path, e)
                self.unwritable = e.strerror or str(e)
                return False
            try:
                if self._lock(fd) and self._same_file(fd):
                    self._fd = fd
                    self._write_record(fd)
                    return True
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise ProjectLockedError(f"{self.path.parent}: cannot take the project's lock")

    def release(self) -> None:
        """Give the lock up (and remove the file, where that is safe)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if not _WINDOWS:  # still holding it: nobody can be between our unlink and close
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        elif self._os_lock:
            with contextlib.suppress(OSError):
                import msvcrt

                os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        os.close(fd)

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------------ inside
    def _lock(self, fd: int) -> bool:
        """The OS lock on ``fd``, or the record when the OS has none here."""
        try:
            if _WINDOWS:
                import msvcrt

                os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._os_lock = True
            return True
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK):
                raise ProjectLockedError(self._held_elsewhere(fd)) from None
            log.info("%s: no OS lock here (%s); the lock record decides", self.path, e)
        record = _read_record(fd)
        if record and _alive(record) and record.get("pid") != os.getpid():
            raise ProjectLockedError(self._held_elsewhere(fd))
        return True

    def _same_file(self, fd: int) -> bool:
        if _WINDOWS:
            return True
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except OSError:
            return False

    def _write_record(self, fd: int) -> None:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": self.purpose,
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(record).encode())

    def _held_elsewhere(self, fd: int) -> str:
        r = _read_record(fd)
        who = "another segapp window or import"
        if r:
            purpose = "an import" if r.get("purpose") == "import" else "another segapp window"
            since = str(r.get("since", ""))[11:16]
            who = f"{purpose} (process {r.get('pid')} on {r.get('host')}" + (
                f", since {since})" if since else ")"
            )
        return (
            f"{self.path.parent}: the project is open in {who}; close it there first "
            "(one writer at a time, so that no edit overwrites another)"
        )


def _read_record(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        record = json.loads(data.decode("utf-8")) if data else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _alive(record: dict[str, Any]) -> bool:
    """False only for a record of a process that has ended on this host (a stale lock)."""
    if record.get("host") != socket.gethostname() or _WINDOWS:
        return True  # cannot tell (on Windows os.kill would end the process): assume it runs
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def open_for_writing(
    path: str | os.PathLike, purpose: str = "window"
) -> tuple[Project, ProjectLock]:
    """(Project, its held lock): the lock first, then the project read (never a copy read
    before someone else's last save), then the temp files a killed save left removed.
    Raises ProjectError (ProjectLockedError when it is open elsewhere); nothing stays
    locked on failure."""
    root = Path(path).expanduser().resolve()
    lock = ProjectLock(root, purpose)
    try:
        if root.is_dir():
            lock.acquire()
        project = Project.open(root)
    except BaseException:
        lock.release()
        raise
    if lock.held:
        project.remove_temp_files()
    return project, lock
