"""Whether a run on device "auto" trains on a GPU, where the recipe's batches are larger
(``recipe.default_batch``): found out once, in a process of its own (it imports torch)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from segapp.ml.job_process import run_job
from segapp.ui.tasks import run_task


class AcceleratorProbe(QObject):
    """``on_gpu(device)`` answers at once; for "auto" it assumes the CPU until the one
    background check answers (``pending`` says whether it is still out), and emits
    ``answered`` then, with whether it found a GPU."""

    answered = Signal(bool)

    def __init__(self, parent: QObject | None = None, enabled: bool = True) -> None:
        super().__init__(parent)
        self.enabled = enabled  # off in tests: no torch import for a plan's text
        self.known: bool | None = None
        self._asked = False

    def on_gpu(self, device: str) -> bool:
        if device != "auto":
            return device != "cpu"
        if self.known is None and not self._asked and self.enabled:
            self._asked = True
            # a failed check (a broken torch install) plans for the CPU, as a run would train
            run_task(
                self, _auto_is_accelerated, self._found, lambda _m: self._found(False), "device"
            )
        return bool(self.known)

    def pending(self, device: str) -> bool:
        """Whether the plan for ``device`` waits on the check (started here if need be)."""
        self.on_gpu(device)
        return device == "auto" and self.enabled and self.known is None

    def _found(self, found: bool) -> None:
        self.known = found
        self.answered.emit(found)


def _auto_is_accelerated() -> bool:
    found, _ = run_job("accelerated", {"device": "auto"}, what="the GPU check")
    return bool(found)
