"""The brush size, wired: what the person sized it to, kept in scale across images
(``PaintStateMixin.brush_for``) and across sessions (the window's settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from segapp.ui.canvas.canvas import Canvas
    from segapp.ui.labeling.session import LabelSession
    from segapp.ui.status_readout import StatusReadout

KEYS = ("brush_radius", "brush_side")  # settings: the radius and the longer side it was set on


def install_brush(
    session: LabelSession, canvas: Canvas, readout: StatusReadout, settings: QSettings
) -> None:
    """Start ``session`` with the brush of the last session, and record (and show) each size
    the person gives it on ``canvas``."""
    session.restore_brush(*(settings.value(k, 0, type=int) for k in KEYS))

    def on_size(size: int) -> None:
        doc = session.doc
        # showing an image sizes the brush too: only a size other than the session's counts
        if doc is not None and doc.brush_radius != session.brush_for(doc.shape):
            session.set_brush_radius(doc.brush_radius)  # the person sized it
            for key, value in zip(KEYS, session.brush_memory(), strict=True):
                settings.setValue(key, value)  # and the next session starts with it
        readout.brush_label.setText(f"brush radius {size} px")

    canvas.brushSizeChanged.connect(on_size)
