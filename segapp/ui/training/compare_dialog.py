"""Compare two model versions on one image: side by side, and where they disagree.

Both proposals are made as the window makes them, in a process of the dialog's own
(``jobs.labels``, one at a time, through the proposals' engine: on a cached ONNX export
without torch), waited for by worker threads, so the dialog stays usable; results are
cached per version while the dialog is open, and the process ends when it closes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
)

from segapp.core.imageio import to_rgb
from segapp.core.sheet import overlay
from segapp.ml.job_process import JobProcess
from segapp.ml.versions import proposal_iou
from segapp.ui.tasks import run_task

log = logging.getLogger(__name__)

VIEW_SIZE = 360
ONLY_A, ONLY_B, OTHER = (40, 200, 60), (220, 40, 200), (255, 200, 0)


def difference(image: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dimmed image; green where only A has a class, magenta only B, yellow other classes."""
    out = (to_rgb(image).astype(np.float32) * 0.35).astype(np.uint8)
    out[(a > 0) & (b == 0)] = ONLY_A
    out[(a == 0) & (b > 0)] = ONLY_B
    out[(a > 0) & (b > 0) & (a != b)] = OTHER
    return out


def to_pixmap(rgb: np.ndarray, size: int = VIEW_SIZE) -> QPixmap:
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    rgb = np.ascontiguousarray(
        cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=interp)
    )
    qimg = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimg.copy())


class CompareDialog(QDialog):
    """Pick two versions; see A, B and their difference on the current image."""

    def __init__(
        self,
        versions: list[tuple[str, Path]],
        a: str,
        b: str,
        stem: str,
        image: np.ndarray,
        colors: list[tuple[int, int, int]],
        reference: np.ndarray | None = None,
        device: str = "auto",
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare versions on {stem}")
        self.image, self.colors, self.reference, self.device = image, colors, reference, device
        self.paths = {name: str(path) for name, path in versions}
        self.labels: dict[str, np.ndarray] = {}
        self.errors: dict[str, str] = {}
        self.pending: set[str] = set()
        self.jobs = JobProcess("the comparison")
        self.finished.connect(self.jobs.kill)  # closed: its predictions are not waited for
        self.combo_a, self.combo_b = QComboBox(), QComboBox()
        for combo, value in ((self.combo_a, a), (self.combo_b, b)):
            combo.addItems(list(self.paths))
            combo.setCurrentText(value)
            combo.currentIndexChanged.connect(self.update_views)
        self.views = {k: QLabel() for k in ("a", "b", "diff")}
        self.captions = {k: QLabel() for k in ("a", "b", "diff")}
        grid = QGridLayout()
        for col, k in enumerate(("a", "b", "diff")):
            self.views[k].setMinimumSize(VIEW_SIZE // 2, VIEW_SIZE // 2)
            self.views[k].setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.captions[k].setWordWrap(True)
            grid.addWidget(self.views[k], 0, col)
            grid.addWidget(self.captions[k], 1, col)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("A"))
        pick.addWidget(self.combo_a, 1)
        pick.addWidget(QLabel("B"))
        pick.addWidget(self.combo_b, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(pick)
        lay.addLayout(grid)
        lay.addWidget(self.summary)
        lay.addWidget(buttons)
        self.update_views()

    @property
    def busy(self) -> bool:
        return bool(self.pending)

    def _request(self, name: str) -> None:
        if name in self.labels or name in self.errors or name in self.pending:
            return
        self.pending.add(name)
        image, jobs = self.image, self.jobs
        args = {"model": self.paths[name], "device": self.device, "classes": len(self.colors)}

        def predict() -> np.ndarray:  # touches nothing of the dialog's (tasks.py)
            return jobs.run("labels", args, [image])[1][0]

        run_task(
            self,
            predict,
            lambda labels, n=name: self._arrived(n, labels, None),
            lambda msg, n=name: self._arrived(n, None, msg),
            "compare",
        )

    def _arrived(self, name: str, labels: np.ndarray | None, error: str | None) -> None:
        self.pending.discard(name)
        if labels is not None:
            self.labels[name] = labels
        else:
            self.errors[name] = error or "failed"
        self.update_views()

    def update_views(self) -> None:
        names = {"a": self.combo_a.currentText(), "b": self.combo_b.currentText()}
        for k, name in names.items():
            self._request(name)
            if name in self.labels:
                self.views[k].setPixmap(
                    to_pixmap(overlay(self.image, self.labels[name], self.colors, alpha=0.55))
                )
                extra = ""
                if self.reference is not None:
                    extra = f" · IoU with the saved mask {proposal_iou(self.labels[name], self.reference):.3f}"
                self.captions[k].setText(f"{k.upper()}: {name}{extra}")
            else:
                self.views[k].setPixmap(to_pixmap(to_rgb(self.image)))
                what = self.errors.get(name, "predicting…")
                self.captions[k].setText(f"{k.upper()}: {name} — {what}")
        la, lb = self.labels.get(names["a"]), self.labels.get(names["b"])
        if la is not None and lb is not None:
            self.views["diff"].setPixmap(to_pixmap(difference(self.image, la, lb)))
            self.captions["diff"].setText(
                "difference: green = only A, magenta = only B, yellow = other class"
            )
            changed = np.count_nonzero(la != lb) / la.size
            self.summary.setText(
                f"A and B agree on {100 * (1 - changed):.1f}% of the pixels; "
                f"IoU of A with B {proposal_iou(la, lb):.3f}"
            )
        else:
            self.views["diff"].clear()
            self.captions["diff"].setText("difference: waiting for both predictions")
            self.summary.setText("")
