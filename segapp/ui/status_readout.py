"""The status bar's permanent readout: the pixel under the cursor (position, value, class),
the class being painted, the brush, the zoom and the model engine's device."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from segapp.core.project import IGNORE_INDEX

SEPARATED = "QLabel { border-left: 1px solid palette(mid); padding-left: 6px; }"


class StatusReadout:
    """Labels added to ``bar`` as permanent widgets, kept up to date by the window."""

    def __init__(self, bar: QStatusBar) -> None:
        self.pos_label, self.value_label, self.class_label = QLabel(), QLabel(), QLabel()
        self.zoom_label, self.brush_label = QLabel(), QLabel()
        self.device_label = QLabel("loading model engine…")
        for w in (self.pos_label, self.value_label, self.class_label, self.brush_label):
            bar.addPermanentWidget(w)
        for w in (self.zoom_label, self.device_label):
            bar.addPermanentWidget(w)
        for w in (self.value_label, self.class_label, self.brush_label, self.zoom_label):
            w.setStyleSheet(SEPARATED)
        self.device_label.setStyleSheet(SEPARATED)
        self.cursor = (-1, -1)  # image pixel under the mouse

    def show_pixel(self, doc, project, active_class: int, erasing: bool = False) -> None:
        """The pixel under the cursor in ``doc`` and the class being painted (``erasing``:
        the eraser, which paints background, whatever class is active)."""
        x, y = self.cursor
        if doc is None or project is None or not (0 <= y < doc.shape[0] and 0 <= x < doc.shape[1]):
            self.pos_label.setText("")
            self.value_label.setText("")
        else:
            v = doc.image[y, x]
            value = "/".join(str(int(c)) for c in v) if getattr(v, "ndim", 0) else str(int(v))
            self.pos_label.setText(f"x {x}, y {y}")
            name = _class_name(project, int(doc.labels[y, x]))
            self.value_label.setText(f"value {value}: {name}")
        self.value_label.setVisible(bool(self.value_label.text()))
        if project is not None:
            if erasing:
                self.class_label.setText(f"erase to: {_class_name(project, 0)}")
            else:
                self.class_label.setText(f"paint: {_class_name(project, active_class)}")


def _class_name(project, index: int) -> str:
    """A class index's name; "ignore" for the ignore value (255)."""
    if 0 <= index < project.num_classes:
        return project.classes[index].name
    return "ignore" if index == IGNORE_INDEX else str(index)
