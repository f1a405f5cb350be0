"""How the canvas draws the label overlay: class colours, opacity, shown or hidden, filled
or outlined. Kept across documents: each new overlay item gets the look (:meth:`_dress`)."""

from __future__ import annotations

from collections.abc import Sequence

from segapp.ui.canvas.items import LabelOverlayItem


class OverlayLookMixin:
    """The overlay's look, applied to ``self._overlay`` (the current item, or None)."""

    _overlay: LabelOverlayItem | None

    def _init_look(self) -> None:
        self._colors: list[tuple[int, int, int]] = []
        self._opacity = 0.5
        self._overlay_visible = True
        self._outline = False

    def _dress(self, overlay: LabelOverlayItem) -> None:
        """Give a new overlay item the current look."""
        overlay.set_colors(self._colors)
        overlay.set_outline(self._outline)
        overlay.setOpacity(self._opacity)
        overlay.setVisible(self._overlay_visible)

    def overlay_image(self):
        """The overlay ``QImage`` (``Indexed8``; ``pixel(x, y)`` is the shown colour) or None."""
        return None if self._overlay is None else self._overlay.image

    def set_colors(self, colors: Sequence[Sequence[int]]) -> None:
        """Colour ``(r, g, b)`` per class index; index 0 (background) is transparent."""
        self._colors = [(int(c[0]), int(c[1]), int(c[2])) for c in colors]
        if self._overlay is not None:
            self._overlay.set_colors(self._colors)

    def set_overlay_opacity(self, opacity: float) -> None:
        self._opacity = min(max(float(opacity), 0.0), 1.0)
        if self._overlay is not None:
            self._overlay.setOpacity(self._opacity)

    def overlay_opacity(self) -> float:
        return self._opacity

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_visible = bool(visible)
        if self._overlay is not None:
            self._overlay.setVisible(self._overlay_visible)

    def overlay_visible(self) -> bool:
        return self._overlay_visible

    def set_outline_mode(self, on: bool) -> None:
        """Draw only the class boundaries (True) or filled classes (False)."""
        self._outline = bool(on)
        if self._overlay is not None:
            self._overlay.set_outline(self._outline)

    def outline_mode(self) -> bool:
        return self._outline
