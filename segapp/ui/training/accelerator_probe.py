"""Whether a run on device "auto" trains on a GPU, where the recipe's batches are larger
(``recipe.default_batch``): found out once, off the GUI thread (it imports torch)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from segapp.ui.tasks import run_task


class AcceleratorProbe(QObject):
    """``on_gpu(device)`` answers at once; for "auto" it assumes the CPU until the one
    background check answers, and emits ``foundGpu`` if that finds one."""

    foundGpu = Signal()

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
            run_task(self, _auto_is_accelerated, self._found, lambda _m: None, "device")
        return bool(self.known)

    def _found(self, found: bool) -> None:
        self.known = found
        if found:
            self.foundGpu.emit()


def _auto_is_accelerated() -> bool:
    from segapp.ml.device import resolve_device

    return resolve_device("auto").type != "cpu"
