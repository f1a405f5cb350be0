"""The ignore value 255 in the window: hatched on the canvas, painted with the "Ignore" row."""

from __future__ import annotations

import numpy as np
import qt_helpers
from conftest import make_dataset

from segapp.core.classes import multiclass
from segapp.core.imageio import read_mask
from segapp.core.project import IGNORE_INDEX, Project
from segapp.ui.canvas.items import HATCH, LabelOverlayItem

make_window = qt_helpers.make_window


def test_ignore_pixels_are_hatched_in_image_coordinates(qtbot):
    labels = np.zeros((40, 40), np.uint8)
    labels[5:30, 5:30] = IGNORE_INDEX
    labels[32:, 32:] = 1
    item = LabelOverlayItem(labels)
    buf = item.buffer.copy()
    region = buf[5:30, 5:30]
    assert set(np.unique(region)) == {0, IGNORE_INDEX}  # stripes and gaps
    ys, xs = np.nonzero(region == IGNORE_INDEX)
    assert (((ys + 5 + xs + 5) // HATCH) % 2 == 0).all()  # diagonal bands
    assert (buf[32:, 32:] == 1).all() and (buf[:5] == 0).all()
    item.refresh((10, 10, 7, 5))  # a partial refresh keeps the pattern's phase
    assert np.array_equal(item.buffer, buf)
    # the colour table.s ignore entry is the hatch colour, not a class colour
    assert item.image.colorTable()[IGNORE_INDEX] != item.image.colorTable()[1]


def test_the_brush_paints_ignore_from_the_class_panel(make_window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "d", n=2, height=48, width=48, masks=0)
    project = Project.open(data)
    project.classes = multiclass(["background", "cell", "nucleus"])
    project.save()
    w = make_window(data)
    panel = w.class_panel
    assert panel.table.rowCount() == 4 and panel.table.item(3, 2).text() == "Ignore"
    panel.table.setCurrentCell(3, 2)  # a click on the row
    assert w.session.active_class == IGNORE_INDEX and "ignore" in w.class_label.text()
    qt_helpers.drag(qtbot, w.canvas, [(10, 10), (20, 10)])
    assert w.session.save()
    stem = w.session.current
    stored = read_mask(data / "masks" / f"{stem}.png")
    assert stored[10, 15] == 255 and stored[40, 40] == 0
    assert w.session.doc.labels[10, 15] == IGNORE_INDEX
    shown = {w.canvas.overlay_image().pixelIndex(x, 10) for x in range(10, 21)}
    assert shown == {0, IGNORE_INDEX}  # hatched on the canvas
    panel.table.setCurrentCell(1, 2)
    assert w.session.active_class == 1


def test_a_project_that_stores_a_class_as_255_has_no_ignore(make_window, tmp_path):
    data = make_dataset(tmp_path / "d", n=1)  # binary: foreground is stored as 255
    w = make_window(data)
    assert w.class_panel.table.rowCount() == 2
    w.class_panel.pick(IGNORE_INDEX)
    assert w.session.active_class != IGNORE_INDEX
