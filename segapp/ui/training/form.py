"""The settings of a training run: base model, time budget, size, augmentation (+ advanced).

Every setting starts at the recipe's default (segapp.ml.recipe, the same as the command
line's), so the first run needs nothing changed; epochs, batch size and the time budget
say "auto" until the person sets them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segapp.ml import recipe
from segapp.ml.registry import DEFAULT_PRESET, PRESETS

# as segapp.ml.losses.LOSSES (which imports torch); tests/ui/training/test_train_panel.py checks it
LOSSES = ("bce-dice", "bce", "dice", "jaccard", "focal", "weighted-ce", "bce-lovasz")
AUGMENT = ("none", "light", "medium", "strong")
LEARNING_RATES = ("1e-3", "5e-4", "2e-4", "1e-4", "5e-5")
AUTO = "auto"


def _auto_spin(maximum: int, tip: str) -> QSpinBox:
    """A spin box whose 0 reads "auto" (the recipe decides)."""
    spin = QSpinBox()
    spin.setRange(0, maximum)
    spin.setSpecialValueText(AUTO)
    spin.setValue(0)
    spin.setToolTip(tip)
    return spin


def _combo(items, current: str, name: str = "", tip: str = "") -> QComboBox:
    c = QComboBox()
    c.addItems(list(items))
    c.setCurrentText(current)
    if name:
        c.setObjectName(name)
    if tip:
        c.setToolTip(tip)
    return c


class TrainForm(QWidget):
    """Widgets only; ``values()`` gives the keyword arguments of ``versions.train_command``."""

    settingsChanged = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._build_fields()
        self._build_layout()
        self.base_combo.currentIndexChanged.connect(self._on_base)
        self.base_combo.activated.connect(self._on_base_chosen)
        self._chosen_base: str | None = None  # picked by the person; else the active version
        for w in (self.epochs_spin, self.size_spin, self.batch_spin, self.budget_spin):
            w.valueChanged.connect(self.settingsChanged)
        self.size_spin.valueChanged.connect(self.describe_resize)
        self.resize_combo.currentIndexChanged.connect(self.describe_resize)
        combos = (self.augment_combo, self.orientation_combo, self.hue_combo, self.loss_combo)
        for c in (*combos, self.refine_combo, self.resize_combo, self.device_combo):
            c.currentIndexChanged.connect(self.settingsChanged)
        self.set_versions([], None)

    def _build_fields(self) -> None:
        self.base_combo = QComboBox()
        self.base_combo.setObjectName("baseModelCombo")
        self.base_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.base_combo.setMinimumContentsLength(16)
        self.base_combo.setToolTip(
            "start from a preset (a new network) or fine-tune one of this project's versions"
        )
        self.budget_spin = QDoubleSpinBox()
        self.budget_spin.setObjectName("timeBudget")
        self.budget_spin.setRange(0, 600)
        self.budget_spin.setDecimals(1)
        self.budget_spin.setSingleStep(0.5)
        self.budget_spin.setSuffix(" min")
        self.budget_spin.setSpecialValueText(AUTO)
        self.budget_spin.setValue(0)
        self.budget_spin.setToolTip(
            "the longest a run may take; auto: 2 min up to 40 training images (the corrected "
            "ones less those held out to validate), 5 s more per image beyond, at most 15 min"
        )
        self.epochs_spin = _auto_spin(
            1000, "auto: as many steps as the corrected images need (within the time budget)"
        )
        self.size_spin = QSpinBox()
        self.size_spin.setRange(32, 2048)
        self.size_spin.setSingleStep(32)
        self.size_spin.setValue(recipe.DEFAULT_SIZE)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("images are resized (or cropped) to this size for training")
        self.batch_spin = _auto_spin(
            256,
            "auto: 2 on a CPU (more steps in the time budget); on a GPU half the corrected images, 2 to 8",
        )
        self.augment_combo = _combo(AUGMENT, recipe.DEFAULT_AUGMENT)
        self.augment_combo.setToolTip(
            "random mirrors, rotations, scale and colour changes; whatever is chosen here, in "
            "resize mode photos of objects on a background also get another image's object "
            f"pasted in ({recipe.COPY_PASTE:.0%} of views) and an object cut into shuffled "
            f"tiles as background ({recipe.DISTRACTORS:.0%} of views up to "
            f"{recipe.DISTRACTOR_IMAGES} images, fewer beyond), and the objects are blurred in "
            f"{recipe.OBJECT_BLUR:.0%} of views: see the README's training section"
        )
        self.orientation_combo = _combo(
            recipe.ORIENTATIONS,
            recipe.DEFAULT_ORIENTATION,
            "orientation",
            "upright: the images have an up (photos), training views are mirrored left-right "
            "only; any: also upside down and turned (microscopy, aerial); auto: upright when "
            "the corrected masks' objects are clearly more symmetric left-right than up-down "
            "(the training log and the version's config.json say which)",
        )
        self.hue_combo = _combo(
            recipe.HUE_SETTINGS,
            recipe.DEFAULT_HUE,
            "hue",
            f"turn: {recipe.HUE_TURN_SHARE:.0%} of the training views have their hue turned at "
            "random, so that a colour the corrected objects happen to share (red clothes) is "
            "no cue; keep: colours as they are, for classes told apart by colour (a stain, "
            "ripe fruit); auto: turn in the rounds that continue from a version (not a new "
            "network's first), unless colour alone finds the classes in the corrected images "
            "(the training log and the version's config.json say which)",
        )

        self.lr_combo = _combo(LEARNING_RATES, f"{recipe.DEFAULT_LR:g}")
        self.lr_combo.setEditable(True)
        self.lr_combo.setToolTip("learning rate (AdamW, cosine decay); lower it to fine-tune")
        self.loss_combo = _combo(LOSSES, "bce-dice")
        self.loss_combo.setToolTip(
            "bce-dice: the default; bce-lovasz: each image's IoU counts alike (small objects "
            "as much as large ones), measured better for a first round of 10 images, not "
            "beyond; weighted-ce: the U-Net paper's border weights (touching cells)"
        )
        self.refine_combo = _combo(
            recipe.REFINE_SETTINGS,
            recipe.DEFAULT_REFINE,
            "refine",
            "how the new version's proposals are finished: grabcut takes a closer look at "
            "each object the model found, then settles the pixels it is unsure of by the image's "
            "colours and edges (measured better on colour photos "
            "of people, worse on grey micrographs); auto: grabcut for one class on colour "
            "photos of objects on a background (the training log and the version's "
            "config.json say which)",
        )
        self.resize_combo = _combo(
            recipe.RESIZE_MODES,
            "auto",
            "resizeMode",
            "resize: whole images scaled to the image size (photos of whole objects); crop: "
            "crops at full resolution, proposals tile by tile (large images); auto: crop when "
            f"images are over {recipe.CROP_FROM_SHRINK:g}x the image size",
        )
        self.resize_note = QLabel()
        self.resize_note.setObjectName("resizeNote")
        self.resize_note.setWordWrap(True)
        self.resize_note.setStyleSheet("color: #555")
        self._image_sizes: list[tuple[int, int]] = []
        # the corrected masks' structure depth (core.structure_scale), asked for only when
        # the images are large enough for crops; the Train panel reads it from the project
        self.mask_depth: Callable[[], float | None] = lambda: None
        # whether reading it would read masks not read before (the panel then reads them in
        # a thread and calls describe_resize when done)
        self.depth_pending: Callable[[], bool] = lambda: False
        self.device_combo = _combo(("auto", "cpu", "cuda", "mps"), "auto")

    def _build_layout(self) -> None:
        """The main settings, then the advanced ones behind a toggle."""
        main = QFormLayout()
        main.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        main.addRow("Base model", self.base_combo)
        main.addRow("Time budget", self.budget_spin)
        main.addRow("Image size", self.size_spin)
        main.addRow("Resize mode", self.resize_combo)
        main.addRow("", self.resize_note)
        main.addRow("Augmentation", self.augment_combo)
        main.addRow("Orientation", self.orientation_combo)
        main.addRow("Colours", self.hue_combo)
        self.advanced_btn = QToolButton()
        self.advanced_btn.setText("Advanced")
        self.advanced_btn.setCheckable(True)
        self.advanced_btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_btn.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_btn.setAutoRaise(True)
        self.advanced_btn.toggled.connect(self._toggle_advanced)
        self.advanced = QWidget()
        adv = QFormLayout(self.advanced)
        adv.setContentsMargins(12, 0, 0, 0)
        adv.addRow("Epochs", self.epochs_spin)
        adv.addRow("Batch size", self.batch_spin)
        adv.addRow("Learning rate", self.lr_combo)
        adv.addRow("Loss", self.loss_combo)
        adv.addRow("Refine proposals", self.refine_combo)
        adv.addRow("Device", self.device_combo)
        self.advanced.setVisible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(main)
        lay.addWidget(self.advanced_btn)
        lay.addWidget(self.advanced)

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_btn.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    # ------------------------------------------------------------------ base models
    def set_versions(self, versions: list[Any], active: str | None) -> None:
        """Versions (newest first) then the presets; selects the person's pick if still
        listed, else the active version (fine-tuning it continues the loop), else the default
        preset."""
        keep = self.base_combo.currentData()
        self._sizes: dict[str, int] = {}
        self.base_combo.blockSignals(True)
        self.base_combo.clear()
        for v in reversed(versions):
            iou = f", IoU {v.val_iou:.3f}" if v.val_iou is not None else ""
            mark = " (active)" if v.name == active else ""
            self.base_combo.addItem(f"{v.name}{mark} — fine-tune", str(v.path))
            tip = f"fine-tune {v.name}: {v.preset}, {v.images} images{iou}"
            self.base_combo.setItemData(
                self.base_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
            )
            size = v.config.get("train", {}).get("size")
            if size:
                self._sizes[str(v.path)] = int(size)
        for name, (desc, _spec) in PRESETS.items():
            self.base_combo.addItem(f"preset: {name}", name)
            self.base_combo.setItemData(
                self.base_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole
            )
        active_path = next((str(v.path) for v in versions if v.name == active), None)
        for want in (self._chosen_base, active_path, DEFAULT_PRESET):
            i = self.base_combo.findData(want) if want else -1
            if i >= 0:
                self.base_combo.setCurrentIndex(i)
                break
        self.base_combo.blockSignals(False)
        if self.base_combo.currentData() != keep:
            self._on_base()

    def _on_base(self, _index: int = 0) -> None:
        size = self._sizes.get(self.base_combo.currentData() or "")
        if size:  # fine-tuning: the size the version learned at
            self.size_spin.setValue(size)
        self.settingsChanged.emit()

    def _on_base_chosen(self, _index: int) -> None:
        self._chosen_base = self.base_combo.currentData()

    def forget_base_choice(self) -> None:
        """Another project: follow its active version again."""
        self._chosen_base = None

    def select_base(self, ref: str) -> bool:
        """Pick a base model as the person would (kept across refreshes)."""
        i = self.base_combo.findData(str(ref))
        if i >= 0:
            self.base_combo.setCurrentIndex(i)
            self._chosen_base = str(ref)
        return i >= 0

    # ------------------------------------------------------------------ values
    def values(self, wait: bool = True) -> dict[str, Any]:
        """Keyword arguments of ``versions.train_command``; ValueError for a bad entry.

        ``None`` (epochs, batch_size, time_budget) leaves the setting to the recipe;
        ``wait=False``: a display's, which does not wait for masks to be read (``resize_mode``)."""
        text = self.lr_combo.currentText().strip()
        try:
            lr = float(text)
        except ValueError:
            raise ValueError(f"learning rate {text!r} is not a number (e.g. 5e-4)") from None
        if not 0 < lr < 1:
            raise ValueError(f"learning rate {text} must be between 0 and 1 (e.g. 5e-4)")
        return {
            "base": self.base_combo.currentData() or DEFAULT_PRESET,
            "epochs": self.epochs_spin.value() or None,
            "size": self.size_spin.value(),
            "batch_size": self.batch_spin.value() or None,
            "time_budget": round(self.budget_spin.value() * 60) or None,
            "lr": lr,
            "loss": self.loss_combo.currentText(),
            "augment": self.augment_combo.currentText(),
            "orientation": self.orientation_combo.currentText(),
            "hue": self.hue_combo.currentText(),
            "refine": self.refine_combo.currentText(),
            "device": self.device_combo.currentText(),
            "resize_mode": self.resize_mode(wait),
        }

    def set_image_sizes(self, sizes: list[tuple[int, int]]) -> None:
        """(height, width) of the images a run would train on: what "auto" decides from."""
        self._image_sizes = list(sizes)
        self.describe_resize()

    def resize_mode(self, wait: bool = True) -> str:
        """The chosen mode, "auto" resolved from the images (segapp.ml.recipe); if the
        corrected masks were still being read for it, they are read now, or with ``wait``
        False the images' size alone decides."""
        pending = self.resize_pending()
        if pending and not wait:
            return recipe.choose_resize_mode(self._image_sizes, self.size_spin.value())
        mode = self._resize_mode()[0]
        if pending:
            self.describe_resize()
        return mode

    def _resize_mode(self) -> tuple[str, bool]:
        """(the chosen mode, whether "auto" resized large images for their masks' depth)."""
        mode = self.resize_combo.currentText()
        if mode != "auto":
            return mode, False
        return recipe.resolve_resize_mode(
            self._image_sizes, self.size_spin.value(), self.mask_depth
        )

    def resize_pending(self) -> bool:
        """Is "auto" waiting for the corrected masks to be read (large images)?"""
        return (
            self.resize_combo.currentText() == "auto"
            and recipe.depth_decides(self._image_sizes, self.size_spin.value())
            and self.depth_pending()
        )

    def describe_resize(self) -> None:
        """The line under Resize mode: what the mode does with these images."""
        if self.resize_pending():
            self.resize_note.setText(
                "auto: reading the corrected masks to choose between resize and crop…"
            )
            self.resize_note.setVisible(True)
            return
        (mode, by_masks), size = self._resize_mode(), self.size_spin.value()
        note = recipe.describe_resize_mode(mode, self._image_sizes, size, by_masks)
        if note and self.resize_combo.currentText() == "auto":
            note = f"{mode}: {note}"
        self.resize_note.setText(note)
        self.resize_note.setVisible(bool(note))

    def set_values(self, **kw: Any) -> None:
        """Set some fields (tests, restoring settings): base, epochs, size, batch_size, ...
        (``None`` = auto; ``time_budget`` in seconds)."""
        if "base" in kw:
            self.select_base(kw["base"])
        if "time_budget" in kw:
            self.budget_spin.setValue((kw["time_budget"] or 0) / 60)
        spins = {"epochs": self.epochs_spin, "size": self.size_spin, "batch_size": self.batch_spin}
        combos = {
            "lr": self.lr_combo,
            "loss": self.loss_combo,
            "augment": self.augment_combo,
            "orientation": self.orientation_combo,
            "hue": self.hue_combo,
            "refine": self.refine_combo,
            "device": self.device_combo,
            "resize_mode": self.resize_combo,
        }
        for k, v in kw.items():
            if k in spins:
                spins[k].setValue(int(v or 0))
            elif k in combos:
                combos[k].setCurrentText(str(v))
