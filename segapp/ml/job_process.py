"""The window's end of :mod:`segapp.ml.jobs`: model work in a process of its own.

:class:`JobProcess` starts an engine process (``python -m segapp.ml.engine_server``) on its
first job and serves its jobs one at a time from any thread; :meth:`~JobProcess.kill` ends
it from any thread, and a job in flight then raises :class:`JobCancelled`. A process that
dies mid-job (a native crash, the system out of memory) raises :class:`JobError` with its
exit code or signal, and the window goes on. :func:`run_job` is one job in a process that
ends with it: the window's process never loads torch, and the memory a job's model held is
given back when it ends.

No Qt and no torch here.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from segapp.ml.engine_client import EngineClient, EngineError, Event


class JobError(Exception):
    """The job failed (its message says why), or its process stopped unexpectedly."""


class JobCancelled(JobError):
    """:meth:`JobProcess.kill` ended the process while the job ran."""


_live: weakref.WeakSet[JobProcess] = weakref.WeakSet()


class JobProcess:
    """An engine process for jobs, started on the first one."""

    def __init__(self, what: str = "the model job") -> None:
        self.what = what  # the process in messages: "the version check"
        self._client: EngineClient | None = None
        self._lock = threading.Lock()  # one job at a time
        self._killed = False
        _live.add(self)

    def run(
        self,
        job: str,
        args: dict[str, Any],
        arrays: Sequence[np.ndarray] = (),
        on_event: Callable[[Event], None] | None = None,
    ) -> tuple[Any, list[np.ndarray]]:
        """(result, arrays) of ``job`` (:data:`segapp.ml.jobs.JOBS`); ``on_event`` gets its
        notes (progress) as they come."""
        with self._lock:
            try:
                client = self._ensure_client()
                reply, out = client.request(
                    {"op": "job", "job": job, "args": args}, arrays, on_event
                )
            except EngineError as e:
                self.close()
                if self._killed:
                    raise JobCancelled(f"{self.what} was stopped") from e
                raise JobError(str(e)) from e
        if not reply.get("ok"):
            raise JobError(reply.get("error") or f"{job} failed")
        return reply.get("result"), out

    def _ensure_client(self) -> EngineClient:
        if self._client is not None and self._client.alive:
            return self._client
        self.close()
        client = EngineClient("cpu", name=self.what, after_crash="nothing was changed")
        self._client = client
        if self._killed:  # checked after the assignment kill() reads: no process escapes it
            raise EngineError(f"{self.what} was stopped")
        client.start(greet=False)
        return client

    def kill(self) -> None:
        """End the process now, for good (any thread): a job in flight raises JobCancelled."""
        self._killed = True
        client = self._client
        if client is not None:
            client.kill()
        if self._lock.acquire(blocking=False):  # no job in flight, whose thread would reap it
            try:
                self.close()
            finally:
                self._lock.release()

    def close(self) -> None:
        """End the process (it starts again for the next job)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


def kill_all() -> None:
    """End every job process (the window closes: none outlives it; a version check cut
    short is done on the project's next open, ``unfinished``)."""
    for process in list(_live):
        process.kill()


def run_job(
    job: str,
    args: dict[str, Any],
    arrays: Sequence[np.ndarray] = (),
    on_event: Callable[[Event], None] | None = None,
    what: str = "the model job",
) -> tuple[Any, list[np.ndarray]]:
    """One job in a process started for it and ended after it."""
    process = JobProcess(what)
    try:
        return process.run(job, args, arrays, on_event)
    finally:
        process.close()
