"""The proposal threshold's slider, wired: remembered per project, said per image.

The slider sets the threshold of the next proposals and re-thresholds the image's
untouched proposal (``proposals.set_threshold``). Each project keeps the value it was left
at (the window's settings, ``RecentProjects``), and the panel says when the image shown was
proposed at another one (after a switch, or a proposal made before the slider moved).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from segapp.ui.labeling.model_panel import ModelPanel
    from segapp.ui.labeling.session import LabelSession
    from segapp.ui.recent import RecentProjects

DEFAULT = 0.5


def install_threshold(session: LabelSession, panel: ModelPanel, recent: RecentProjects) -> None:
    """Connect ``panel``'s slider to ``session`` and ``recent`` (connect after the window's
    own ``projectChanged`` handler, before the first image of a project is shown)."""

    def on_project(project) -> None:
        if project is not None:
            panel.set_threshold(recent.threshold(project.root) or DEFAULT)

    def on_slider(value: float) -> None:
        session.set_threshold(value)
        if session.project is not None:
            recent.set_threshold(session.project.root, value)

    def say(*_args) -> None:
        panel.set_image_threshold(session.proposal_threshold())

    session.projectChanged.connect(on_project)
    panel.thresholdChanged.connect(on_slider)
    session.currentChanged.connect(say)
    session.documentReady.connect(say)
    session.entryChanged.connect(say)
