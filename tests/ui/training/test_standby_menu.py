"""Model > Start each training round ahead: the person can give up the memory the process
started ahead holds (or take it back), and the window remembers the choice."""

from __future__ import annotations

import qt_helpers
from conftest import make_dataset

make_window = qt_helpers.make_window


def _model_menu_texts(w) -> list[str]:
    menu = next(a.menu() for a in w.menuBar().actions() if a.text().replace("&", "") == "Model")
    return [a.text() for a in menu.actions()]


def test_the_menu_starts_and_ends_the_process_started_ahead(make_window, qtbot, tmp_path):
    root = make_dataset(tmp_path / "d", n=4, height=24, width=24)
    w = make_window(root)  # the tests' settings say train_standby = false
    action, panel = w.training.standby_action, w.training.train_panel
    assert action.text() in _model_menu_texts(w)
    assert not action.isChecked() and not panel.standby_enabled
    w.training.show()
    qtbot.waitUntil(panel.isVisible, timeout=5000)
    qtbot.wait(50)
    assert not panel.process.standby_waiting  # off: nothing started

    action.trigger()
    assert panel.standby_enabled and w.settings.value("train_standby", type=bool)
    qtbot.waitUntil(lambda: panel.process.standby_waiting, timeout=5000)
    pid = panel.process._standby.processId()
    assert pid > 0

    action.trigger()
    assert not panel.standby_enabled and not panel.process.standby_waiting
    assert not w.settings.value("train_standby", type=bool)
    panel.prepare_standby()  # what the panel does on showing and after runs: nothing now
    assert not panel.process.standby_waiting
