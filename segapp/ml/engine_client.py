"""The window's model engine runs in a process of its own; this is the window's end of the pipe.

The window never imports torch, smp or timm, and a native crash in the engine (a GPU
driver, a broken ONNX file) ends that process, not the window. :class:`EngineClient`
starts ``python -m segapp.ml.engine_server`` and exchanges frames with it over its
stdin/stdout: an 8-byte length, a JSON header, then the raw bytes of the arrays the
header lists (an image one way, labels and probabilities the other). Blocking reads
release the GIL, so the thread that waits here costs the GUI thread nothing.

No Qt and no torch here: the window's propose worker and the benchmarks use it alike.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("<Q")

Event = dict[str, Any]


class EngineError(Exception):
    """The engine process is gone (it crashed or was stopped)."""


def write_frame(out: IO[bytes], header: dict[str, Any], arrays: Sequence[np.ndarray] = ()) -> None:
    """Send ``header`` (JSON) and ``arrays`` (raw bytes, listed in the header)."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    specs = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]
    data = json.dumps(header | {"arrays": specs}).encode()
    out.write(_LENGTH.pack(len(data)))
    out.write(data)
    for a in arrays:
        if a.size:
            out.write(memoryview(a).cast("B"))
    out.flush()


def _read_into(inp: IO[bytes], view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = inp.readinto(view[got:])
        if not n:
            raise EOFError("the other end closed the pipe")
        got += n


def read_frame(inp: IO[bytes]) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The next frame (EOFError when the other end has gone)."""
    length = bytearray(_LENGTH.size)
    _read_into(inp, memoryview(length))
    data = bytearray(_LENGTH.unpack(length)[0])
    _read_into(inp, memoryview(data))
    header = json.loads(data)
    arrays = []
    for spec in header.pop("arrays", []):
        a = np.empty(spec["shape"], np.dtype(spec["dtype"]))
        if a.size:
            _read_into(inp, memoryview(a).cast("B"))
        arrays.append(a)
    return header, arrays


def ending(code: int | None) -> str:
    """How a process ended, from its return code (negative: the signal), for a message."""
    if code is None:
        return "it stopped answering"
    if code == -9:  # SIGKILL: Linux's out-of-memory killer sends it (or a person did)
        return "killed, signal 9: the system may have run out of memory"
    return f"exit code {code}" if code >= 0 else f"signal {-code}"


def server_command() -> list[str]:
    """How the engine process is started (tests replace it)."""
    return [sys.executable, "-m", "segapp.ml.engine_server"]


class EngineClient:
    """One engine process: :meth:`start`, then :meth:`request` from one thread at a time.

    :meth:`kill` may be called from any thread: a request waiting then raises EngineError.
    """

    def __init__(
        self,
        device: str = "auto",
        name: str = "the model engine",
        after_crash: str = "the next proposal starts it again",
    ) -> None:
        self.device_request = device
        self.name, self.after_crash = name, after_crash  # what a crash's message says
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self._killed = False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, greet: bool = True) -> dict[str, Any]:
        """Start the process and greet it: its answer says the device (``device``).
        ``greet=False``: no engine for proposals (a job process, :mod:`segapp.ml.job_process`)."""
        env = dict(os.environ)  # a source checkout that is not installed imports as here
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        try:
            self.proc = subprocess.Popen(
                server_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
            )
        except OSError as e:
            raise EngineError(f"{self.name} could not start ({e})") from e
        if self._killed:  # kill() came while it started
            self.proc.kill()
        if not greet:
            return {}
        reply, _ = self.request({"op": "hello", "device": self.device_request})
        if not reply.get("ok"):
            self.kill()
            raise EngineError(reply.get("error", "the model engine failed to start"))
        self.info = reply
        log.info("model engine process %d on %s", self.proc.pid, reply.get("device"))
        return reply

    def request(
        self,
        header: dict[str, Any],
        arrays: Sequence[np.ndarray] = (),
        on_event: Callable[[Event], None] | None = None,
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Send one request; ``on_event`` gets the notes that come before the reply."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise EngineError("the model engine is not running")
        try:
            write_frame(proc.stdin, header, arrays)
            while True:
                reply, out = read_frame(proc.stdout)
                if "event" not in reply:
                    return reply, out
                if on_event is not None:
                    on_event(reply)
        except (OSError, EOFError, ValueError) as e:
            raise EngineError(self._gone_message()) from e

    def _gone_message(self) -> str:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return f"{self.name} stopped unexpectedly ({ending(code)}); {self.after_crash}"

    def kill(self) -> None:
        """End the process now (whatever it is doing; also if it is just starting)."""
        self._killed = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    def close(self) -> None:
        """Kill the process and release its pipes (from the thread that made the requests)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        proc.wait()
