"""The model panel: which model proposes, the binary threshold, Propose / Propose all, device."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
)

from segapp.ml.registry import DEFAULT_PRESET, PRESETS

log = logging.getLogger(__name__)


def project_checkpoints(models_dir: Path) -> list[tuple[str, Path, str]]:
    """(name, folder, description) of the checkpoints under ``models_dir``, newest first."""
    if not models_dir.is_dir():
        return []
    found = []
    for folder in models_dir.iterdir():
        if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
            continue
        desc = ""
        try:
            cfg = json.loads((folder / "config.json").read_text())
            iou = cfg.get("metrics", {}).get("val_iou")
            preset = cfg.get("model", {}).get("preset", "")
            desc = f"{preset} checkpoint" + (f", val IoU {iou:.3f}" if iou is not None else "")
        except (OSError, ValueError, TypeError, AttributeError):
            desc = "checkpoint"
        found.append((folder.name, folder, desc, (folder / "model.safetensors").stat().st_mtime))
    found.sort(key=lambda t: -t[3])
    return [(n, f, d) for n, f, d, _ in found]


class ModelPanel(QGroupBox):
    """Signals only; the window wires them to the session."""

    proposeRequested = Signal()
    proposeAllRequested = Signal()
    cancelRequested = Signal()
    thresholdChanged = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__("Model", parent)
        self.combo = QComboBox()
        self.combo.setObjectName("modelCombo")
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(14)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 99)
        self.slider.setValue(50)
        self.slider.setToolTip("foreground threshold of the binary proposal")
        self.slider_label = QLabel("0.50")
        self.slider.valueChanged.connect(self._on_slider)
        self.propose_btn = QPushButton("Propose")
        self.propose_btn.setToolTip("propose a mask for this image (Ctrl+P)")
        self.propose_btn.clicked.connect(self.proposeRequested)
        self.all_btn = QPushButton("Propose all unlabeled")
        self.all_btn.clicked.connect(self.proposeAllRequested)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancelRequested)
        self.device_label = QLabel("Device: loading model engine…")
        self.device_label.setWordWrap(True)
        self.device_label.setStyleSheet("color: gray")

        lay = QVBoxLayout(self)
        lay.addWidget(self.combo)
        self.threshold_row = QHBoxLayout()
        self.threshold_row.addWidget(QLabel("Threshold"))
        self.threshold_row.addWidget(self.slider, 1)
        self.threshold_row.addWidget(self.slider_label)
        lay.addLayout(self.threshold_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.propose_btn)
        buttons.addWidget(self.all_btn)
        lay.addLayout(buttons)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_btn)
        lay.addLayout(prog)
        lay.addWidget(self.device_label)
        self.set_batch_running(False)
        self.set_binary(True)

    # ------------------------------------------------------------------ models
    def set_models(self, models_dir: Path | None, extra: list[tuple[str, Path, str]] = ()) -> None:
        """Fill the picker: ``extra`` (e.g. the demo model), the project's checkpoints, presets.

        The first checkpoint is selected if there is one, else the default preset.
        """
        self.combo.clear()
        checkpoints = list(extra) + (project_checkpoints(models_dir) if models_dir else [])
        for name, folder, desc in checkpoints:
            self.combo.addItem(name, str(folder))
            self.combo.setItemData(self.combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        for name, (desc, spec) in PRESETS.items():
            what = "ImageNet encoder, untrained decoder" if spec.encoder_weights else "untrained"
            tip = f"{desc}\n({what}: train it on your corrected images for useful proposals)"
            self.combo.addItem(f"preset: {name}", name)
            self.combo.setItemData(self.combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        if not checkpoints:
            self.select(DEFAULT_PRESET)
        else:
            self.combo.setCurrentIndex(0)

    def select(self, model_ref: str) -> bool:
        i = self.combo.findData(str(model_ref))
        if i >= 0:
            self.combo.setCurrentIndex(i)
        return i >= 0

    def model_ref(self) -> str:
        return self.combo.currentData() or DEFAULT_PRESET

    # ------------------------------------------------------------------ threshold
    def set_binary(self, binary: bool) -> None:
        for i in range(self.threshold_row.count()):
            w = self.threshold_row.itemAt(i).widget()
            if w is not None:
                w.setVisible(binary)

    def threshold(self) -> float:
        return self.slider.value() / 100.0

    def _on_slider(self, value: int) -> None:
        self.slider_label.setText(f"{value / 100:.2f}")
        self.thresholdChanged.emit(value / 100.0)

    # ------------------------------------------------------------------ state
    def set_device(self, text: str) -> None:
        self.device_label.setText(f"Device: {text}")

    def set_busy(self, busy: bool) -> None:
        self.propose_btn.setText("Proposing…" if busy else "Propose")

    def set_batch_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_btn.setVisible(running)
        self.all_btn.setEnabled(not running)
        if not running:
            self.progress.reset()

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} / {total}")
