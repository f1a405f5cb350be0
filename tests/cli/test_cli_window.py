"""Which words open the window: ``-v`` before PATH, folders named like commands, ``-m segapp``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import segapp.ui.app as app
from segapp.cli.main import main


@pytest.fixture
def opened(monkeypatch, tmp_path):
    """What the window would be asked to open: (path, demo, verbose) per call."""
    calls = []

    def fake_run_app(argv):
        args = app._parse(argv)
        calls.append((args.path, args.demo, args.verbose))
        return 0

    monkeypatch.setattr(app, "run_app", fake_run_app)
    monkeypatch.chdir(tmp_path)
    for name in ("models", "train", "demo", "open"):
        (tmp_path / name).mkdir()
    return calls


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], (None, False, False)),
        (["-v"], (None, False, True)),
        (["-v", "/data/cells"], ("/data/cells", False, True)),
        (["/data/cells", "--verbose"], ("/data/cells", False, True)),
        (["open", "models"], ("models", False, False)),
        (["-v", "open", "train"], ("train", False, True)),
        (["open", "demo"], ("demo", False, False)),  # the folder, not the demo
        (["open", "open"], ("open", False, False)),
        (["models/"], ("models/", False, False)),
        (["-v", "./train"], ("./train", False, True)),
        (["demo"], (None, True, False)),
        (["-v", "demo"], (None, True, True)),
    ],
)
def test_window_arguments(opened, argv, expected):
    assert main(argv) == 0
    assert opened == [expected]


def test_verbose_before_a_command_still_runs_the_command(opened, capsys):
    with pytest.raises(SystemExit) as e:
        main(["-v", "train"])  # the command, missing its arguments
    assert e.value.code == 2 and "required" in capsys.readouterr().err
    assert opened == []


class _Window:
    def __init__(self):
        self.calls = []

    def open_demo(self):
        self.calls.append("<the demo>")
        return True

    def open_path(self, path):
        self.calls.append(str(path))
        return True


def test_startup_opens_a_folder_named_demo():
    win = _Window()
    assert app.open_startup(win, "demo")
    assert app.open_startup(win, None, demo=True)
    assert win.calls == ["demo", "<the demo>"]


def test_python_m_segapp_is_segapp():
    out = subprocess.run(
        [sys.executable, "-m", "segapp", "open", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: segapp open")
