"""The model panel: which trained model proposes, the binary threshold, Propose / Propose all, device.

Only trained checkpoints are offered (the demo model, opened model folders, the project's
``models/``): a preset's untrained head proposes noise. Until there is one, the picker is
empty and a hint says how to get one (correct images and Train, or open a model folder).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from segapp.ml.registry import PRESETS
from segapp.ml.spec import ModelError, ModelSpec
from segapp.ui.jump_slider import jump_slider

log = logging.getLogger(__name__)

FIRST_ROUND_IMAGES = 10  # corrected images worth a first training run
NO_TRAINED_MODEL = (
    f"No trained model yet: correct at least {FIRST_ROUND_IMAGES} images (paint or fix their "
    "masks; N suggests the ones that cover the project best), then Train (Ctrl+T). Or open a "
    "trained model folder."
)
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
ModelEntry = tuple[str, Path, str]  # (name, checkpoint folder, description)


def is_trained_ref(model_ref: str) -> bool:
    """False for what must never propose: nothing, or a preset (an untrained head)."""
    return bool(model_ref) and model_ref not in PRESETS


def describe_checkpoint(folder: Path) -> str:
    """'unet-small checkpoint, val IoU 0.912' from its config.json (plain 'checkpoint' if odd)."""
    try:
        cfg = json.loads((folder / CONFIG_FILE).read_text())
        iou = cfg.get("metrics", {}).get("val_iou")
        preset = cfg.get("model", {}).get("preset", "")
        return f"{preset} checkpoint" + (f", val IoU {iou:.3f}" if iou is not None else "")
    except (OSError, ValueError, TypeError, AttributeError):
        return "checkpoint"


def project_checkpoints(models_dir: Path) -> list[ModelEntry]:
    """(name, folder, description) of the checkpoints under ``models_dir``, newest first."""
    if not models_dir.is_dir():
        return []
    found = []
    for folder in models_dir.iterdir():
        if (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file():
            found.append((folder, (folder / WEIGHTS_FILE).stat().st_mtime))
    found.sort(key=lambda t: -t[1])
    return [(f.name, f, describe_checkpoint(f)) for f, _ in found]


def _check_safetensors(path: Path) -> None:
    """A safetensors file starts with an 8-byte header length and a JSON header (no pickle)."""
    try:
        with path.open("rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 0 < n <= path.stat().st_size - 8:
                raise ValueError("no safetensors header")
            if not isinstance(json.loads(f.read(n)), dict):
                raise ValueError("the header is not a JSON object")
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: not a safetensors weights file ({e})") from e


def read_model_folder(folder: Path, num_classes: int) -> ModelEntry:
    """The picker entry of a trained checkpoint folder, or a ModelError saying what is wrong.

    Only JSON is read here (config.json, the safetensors header); nothing is unpickled.
    ``num_classes``: the project's label classes (2 = binary), which the model must predict.
    """
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not (folder / f).is_file()]
    if missing:
        raise ModelError(
            f"{folder} is not a trained model folder: {' and '.join(missing)} missing. "
            f"A model folder holds {CONFIG_FILE} and {WEIGHTS_FILE}, like a project's "
            "models/v001 (.pt / .pth files are not opened: they can run code)."
        )
    try:
        spec = ModelSpec.from_dict(json.loads((folder / CONFIG_FILE).read_text())["model"])
    except (OSError, ValueError, KeyError, TypeError, ModelError) as e:
        raise ModelError(f"{folder / CONFIG_FILE}: not a segapp model config ({e})") from e
    _check_safetensors(folder / WEIGHTS_FILE)
    if spec.out_classes != max(2, num_classes):
        raise ModelError(
            f"{folder.name} predicts {spec.out_classes} classes but this project has "
            f"{num_classes}; choose a model trained for these classes"
        )
    return folder.name, folder, describe_checkpoint(folder)


class ModelPanel(QGroupBox):
    """Signals only; the window wires them to the session."""

    proposeRequested = Signal()
    proposeAllRequested = Signal()
    cancelRequested = Signal()
    thresholdChanged = Signal(float)
    trainRequested = Signal()  # the hint's "Train…" (no trained model yet)
    openModelRequested = Signal()  # the hint's "Open model folder…"
    modelChanged = Signal(str)  # the chosen checkpoint folder ("" for none)

    def __init__(self, parent=None) -> None:
        super().__init__("Model", parent)
        self.combo = QComboBox()
        self.combo.setObjectName("modelCombo")
        self.combo.currentIndexChanged.connect(lambda _i: self.modelChanged.emit(self.model_ref()))
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(14)
        self.combo.setPlaceholderText("no trained model yet")
        self.hint = self._build_hint()
        self.slider = jump_slider()
        self.slider.setRange(1, 99)
        self.slider.setValue(50)
        self.slider.setToolTip(
            "foreground threshold of the binary proposal: it re-thresholds the image's "
            "untouched proposal and sets the next proposals (kept per project)"
        )
        self.slider_label = QLabel("0.50")
        self.slider.valueChanged.connect(self._on_slider)
        # the image shown was proposed at another threshold (before a switch, a reopening)
        self.image_threshold = QLabel()
        self.image_threshold.setObjectName("imageThreshold")
        self.image_threshold.setStyleSheet("color: palette(placeholder-text);")
        self.image_threshold.setWordWrap(True)
        self.image_threshold.hide()
        self._image_threshold: float | None = None
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
        lay.addWidget(self.hint)
        self.threshold_row = QHBoxLayout()
        self.threshold_row.addWidget(QLabel("Threshold"))
        self.threshold_row.addWidget(self.slider, 1)
        self.threshold_row.addWidget(self.slider_label)
        lay.addLayout(self.threshold_row)
        lay.addWidget(self.image_threshold)
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
        self.set_models(None)

    def _build_hint(self) -> QFrame:
        """What helps while there is no trained model: the why, Train…, Open model folder…."""
        hint = QFrame()
        hint.setObjectName("noModelHint")
        hint.setStyleSheet(
            "QFrame#noModelHint { border: 1px solid palette(mid); border-radius: 4px; }"
        )
        self.hint_label = QLabel(NO_TRAINED_MODEL)
        self.hint_label.setWordWrap(True)
        self.train_btn = QPushButton("Train… (Ctrl+T)")
        self.train_btn.setToolTip("train a model on your corrected images")
        self.train_btn.clicked.connect(self.trainRequested)
        self.open_btn = QPushButton("Open model folder…")
        self.open_btn.setToolTip(f"a trained checkpoint folder ({CONFIG_FILE} + {WEIGHTS_FILE})")
        self.open_btn.clicked.connect(self.openModelRequested)
        row = QHBoxLayout()
        row.addWidget(self.train_btn)
        row.addWidget(self.open_btn)
        lay = QVBoxLayout(hint)
        lay.addWidget(self.hint_label)
        lay.addLayout(row)
        return hint

    # ------------------------------------------------------------------ models
    def set_models(self, models_dir: Path | None, extra: Iterable[ModelEntry] = ()) -> None:
        """Fill the picker: ``extra`` (the demo model, opened folders), then the project's
        checkpoints, newest first; the first is selected. Never presets (untrained heads):
        with no checkpoint the picker is empty and disabled, and the hint shows."""
        self.combo.clear()
        seen: set[str] = set()
        listed = project_checkpoints(models_dir) if models_dir else []
        for name, folder, desc in [*extra, *listed]:
            if str(folder) not in seen:
                seen.add(str(folder))
                self.combo.addItem(name, str(folder))
                self.combo.setItemData(self.combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(0 if seen else -1)
        self.combo.setEnabled(bool(seen))
        self.hint.setVisible(not seen)
        self._show_threshold()

    def has_model(self) -> bool:
        return self.combo.count() > 0

    def select(self, model_ref: str) -> bool:
        i = self.combo.findData(str(model_ref))
        if i >= 0:
            self.combo.setCurrentIndex(i)
        return i >= 0

    def model_ref(self) -> str:
        """The selected checkpoint folder ("" when there is none)."""
        return self.combo.currentData() or ""

    # ------------------------------------------------------------------ threshold
    def set_binary(self, binary: bool) -> None:
        self._binary = binary
        self._show_threshold()

    def _show_threshold(self) -> None:
        """The slider, for a binary project's trained model only (without one it moved
        nothing; a multi-class model's proposal is its likeliest class)."""
        shown = self._binary and self.has_model()
        for i in range(self.threshold_row.count()):
            w = self.threshold_row.itemAt(i).widget()
            if w is not None:
                w.setVisible(shown)
        self._show_image_threshold()

    def threshold(self) -> float:
        return self.slider.value() / 100.0

    def set_threshold(self, value: float) -> None:
        """Put the slider at ``value`` without re-thresholding anything (a project opens)."""
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * 100))
        self.slider.blockSignals(False)
        self.slider_label.setText(f"{self.threshold():.2f}")
        self._show_image_threshold()

    def set_image_threshold(self, value: float | None) -> None:
        """The threshold the image shown was proposed at (None: no proposal of its own)."""
        self._image_threshold = value
        self._show_image_threshold()

    def _show_image_threshold(self) -> None:
        value = self._image_threshold
        differs = value is not None and round(value * 100) != self.slider.value()
        if differs:
            self.image_threshold.setText(f"this image was proposed at {value:.2f}")
        self.image_threshold.setVisible(differs and self._binary and self.has_model())

    def _on_slider(self, value: int) -> None:
        self.slider_label.setText(f"{value / 100:.2f}")
        self.thresholdChanged.emit(value / 100.0)
        self._show_image_threshold()

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
