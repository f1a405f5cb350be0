"""A training run in a separate process: the same ``segapp train ... --json`` a user can run.

:class:`TrainProcess` starts the command with ``QProcess``, turns its JSON lines into
signals, and never lets the process take the window down: a crash, an out-of-memory
error or bad data ends in ``failed(message)`` with the last lines the process wrote on
stderr (``segapp: error: ...`` when the CLI caught the problem).

- ``stop()`` writes ``stop`` on its stdin: the process finishes the current batch,
  validates, keeps the best checkpoint and exits normally (``finished``).
- ``cancel()`` kills it and deletes the run's output folder (``cancelled``) in a thread.
- ``shutdown(then)`` (the window closes) stops it and returns at once; ``then()`` runs when
  it has ended (killed if it takes more than a few seconds): the GUI thread never waits.
- ``prepare()`` starts the next run's process ahead (``segapp train-standby``): it imports
  torch and the rest while a person corrects masks, and ``start`` hands it the run's
  arguments, so a round does not wait 7-10 s for its imports (docs/first-rounds.md).
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from segapp.ml.versions import STANDBY_COMMAND, TRAIN_COMMAND
from segapp.ui.tasks import remove_folder

log = logging.getLogger(__name__)

STDERR_LINES = 40


def _package_root() -> str:
    """The folder that holds the ``segapp`` package (for a source checkout not installed)."""
    return str(Path(__file__).resolve().parents[2])


class TrainProcess(QObject):
    started = Signal()
    batch = Signal(int, int, float, int, int)  # batch, batches, loss, step, steps (the run's)
    epoch = Signal(dict)  # the JSON epoch line (epoch, epochs, train_loss, val_iou, ...)
    finished = Signal(object)  # the "done" line (dict), or None when the run wrote none
    failed = Signal(str)  # what went wrong, for a person
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.proc: QProcess | None = None
        self.out: Path | None = None
        self.done: dict | None = None
        self.epochs: list[dict] = []
        self._stdout_buf = b""
        self._stderr_buf = b""
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._cancelling = False
        self._stopping = False
        self._delete_out = False
        self._standby: QProcess | None = None  # the next run's process, importing or waiting
        self.from_standby = False  # whether the running process was started ahead

    @property
    def running(self) -> bool:
        return self.proc is not None

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self, argv: list[str], out: Path, delete_out_on_cancel: bool = True) -> None:
        """Run ``argv`` (``versions.train_command``), writing into ``out``."""
        if self.proc is not None:
            raise RuntimeError("a training run is already going on")
        self.out, self.done, self.epochs = Path(out), None, []
        self._stdout_buf = self._stderr_buf = b""
        self._stderr.clear()
        self._cancelling = self._stopping = False
        self._delete_out = delete_out_on_cancel
        proc = self._take_standby(argv)
        self.from_standby = proc is not None
        if proc is None:
            proc = self._new_process()
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self.proc = proc
        log.info("training: %s", " ".join(argv))
        if self.from_standby:
            proc.write((json.dumps(argv[len(TRAIN_COMMAND) :]) + "\n").encode())
            self._read_stdout()  # what it said while it waited
            self._read_stderr()
        else:
            proc.start(argv[0], argv[1:])
        self.started.emit()

    def _new_process(self) -> QProcess:
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        path = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", _package_root() + (os.pathsep + path if path else ""))
        proc.setProcessEnvironment(env)
        return proc

    # ------------------------------------------------------------------ standby
    def prepare(self) -> None:
        """Start the next run's process ahead, unless one runs or waits already."""
        if self.proc is not None or self._standby is not None:
            return
        proc = self._new_process()
        proc.finished.connect(lambda *_args, p=proc: self._standby_ended(p))
        self._standby = proc
        proc.start(STANDBY_COMMAND[0], STANDBY_COMMAND[1:])

    @property
    def standby_waiting(self) -> bool:
        return self._standby is not None

    def discard_standby(self) -> None:
        """End the process started ahead (it holds nothing: no run was handed to it)."""
        proc, self._standby = self._standby, None
        if proc is not None:
            proc.kill()
            proc.deleteLater()

    def _take_standby(self, argv: list[str]) -> QProcess | None:
        """The process started ahead, for a ``segapp train`` run, if it is alive."""
        proc = self._standby
        if proc is None or argv[: len(TRAIN_COMMAND)] != TRAIN_COMMAND:
            return None
        self._standby = None
        if proc.state() != QProcess.ProcessState.Running:  # still starting, or gone
            proc.kill()
            proc.deleteLater()
            return None
        return proc

    def _standby_ended(self, proc: QProcess) -> None:
        """A process started ahead ended before a run took it (a broken install, killed):
        the next run starts as before."""
        if self._standby is proc:
            self._standby = None
            said = bytes(proc.readAllStandardError()).decode("utf-8", "replace")[-500:]
            log.debug("the training process started ahead ended: %s", said)
            proc.deleteLater()

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Graceful: finish the batch, keep the best checkpoint."""
        if self.proc is not None and not self._stopping:
            self._stopping = True
            self.proc.write(b"stop\n")

    def cancel(self) -> None:
        """Kill the process and discard the run (its output folder is deleted)."""
        if self.proc is None:
            return
        self._cancelling = True
        self.proc.kill()

    def shutdown(self, then: Callable[[], None], kill_after_ms: int = 5000) -> bool:
        """The window closes: stop gracefully, kill if it takes too long (keeps the folder).

        Returns at once: False when nothing runs, else True and ``then()`` is called when
        the process has ended.
        """
        self.discard_standby()
        proc = self.proc
        if proc is None:
            return False
        self.stop()
        proc.finished.connect(lambda *_: then())
        QTimer.singleShot(kill_after_ms, proc, proc.kill)  # the timer dies with the process
        return True

    # ------------------------------------------------------------------ output
    def _read_stdout(self) -> None:
        if self.proc is None:
            return
        self._stdout_buf += bytes(self.proc.readAllStandardOutput())
        *lines, self._stdout_buf = self._stdout_buf.split(b"\n")
        for raw in lines:
            self._handle_line(raw.decode("utf-8", "replace").strip())

    def _handle_line(self, line: str) -> None:
        if not line.startswith("{"):
            if line:
                log.debug("train: %s", line)
            return
        try:
            msg = json.loads(line)
        except ValueError:
            log.debug("train: %s", line)
            return
        event = msg.get("event")
        if event == "batch":
            steps = int(msg.get("step", 0)), int(msg.get("steps", 0))
            self.batch.emit(int(msg["batch"]), int(msg["batches"]), float(msg["loss"]), *steps)
        elif event == "epoch":
            self.epochs.append(msg)
            self.epoch.emit(msg)
        elif event == "done":
            self.done = msg

    def _read_stderr(self) -> None:
        if self.proc is None:
            return
        self._stderr_buf += bytes(self.proc.readAllStandardError())
        *lines, self._stderr_buf = self._stderr_buf.split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                self._stderr.append(text)
                log.debug("train stderr: %s", text)

    def error_message(self, exit_code: int | None = None, crashed: bool = False) -> str:
        """The most useful thing the process said: its ``segapp: error:`` line, else the tail."""
        lines = list(self._stderr)
        errors = [ln for ln in lines if ln.startswith("segapp: error:")]
        if errors:
            return errors[-1].removeprefix("segapp: error:").strip()
        tail = [ln for ln in lines if not ln.startswith(("INFO ", "WARNING ", "DEBUG "))][-3:]
        memory = any("out of memory" in ln.lower() or "memoryerror" in ln.lower() for ln in lines)
        if crashed and exit_code == 9:  # Qt's exit code of a crash is its signal: SIGKILL
            head = "the training process was killed (signal 9), as the system does when it runs "
            head += "out of memory: try a smaller batch size or image size (the versions "
            head += "before it are kept)"
            memory = False
        elif crashed:
            signal = f"signal {exit_code}" if exit_code else "killed or crashed"
            head = f"the training process stopped ({signal}; the versions before it are kept)"
        else:
            head = f"the training process ended with exit code {exit_code}"
        if memory:
            head += " (out of memory: try a smaller batch size or image size)"
        return head + (":\n" + "\n".join(tail) if tail else "")

    # ------------------------------------------------------------------ end
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.proc is not None:
            msg = f"the training process could not start ({self.proc.errorString()})"
            self._end()
            self.failed.emit(msg)

    def _on_finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        if self.proc is None:
            return
        self._read_stdout()
        self._read_stderr()
        if self._stdout_buf.strip():  # a last line without its newline
            self._handle_line(self._stdout_buf.decode("utf-8", "replace").strip())
        if self._stderr_buf.strip():
            self._stderr.append(self._stderr_buf.decode("utf-8", "replace").strip())
        self._stdout_buf = self._stderr_buf = b""
        cancelled, out = self._cancelling, self.out
        crashed = status == QProcess.ExitStatus.CrashExit
        self._end()
        if cancelled:
            if out is not None and self._delete_out:
                remove_folder(out)
            self.cancelled.emit()
        elif crashed or exit_code != 0:
            self.failed.emit(self.error_message(exit_code, crashed))
        else:
            self.finished.emit(self.done)

    def _end(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.deleteLater()
