"""``run_app(argv)``: the QApplication and the main window (``segapp [-v] [--demo] [PATH]``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()
log = logging.getLogger(__name__)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="segapp", description="Open the labeling window.")
    p.add_argument("path", nargs="?", help="a folder of images, images/+masks/, or a project")
    p.add_argument("--demo", action="store_true", help="open the built-in demo")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def run_app(argv: list[str] | None = None) -> int:
    """Show the window: on PATH, on the demo, on the last project, or the welcome page."""
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from segapp.shipped import resource
    from segapp.ui.gui_gc import collect_on_gui_thread
    from segapp.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "segapp"])
    collect_on_gui_thread(app)  # never a widget destroyed off the GUI thread (ui.gui_gc)
    app.setApplicationName("segapp")
    app.setOrganizationName("segapp")
    icon = resource("icons", "segapp.svg")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    win = MainWindow()
    if os.environ.get("SEGAPP_REPORT_SHOWN"):  # benchmarks/bench_startup.py
        _report_startup(win, os.environ["SEGAPP_REPORT_SHOWN"])
    restored = win.settings.value("geometry")
    if restored is not None:
        win.restoreGeometry(restored)
    else:
        fit_to_screen(win)
    QTimer.singleShot(0, lambda: open_startup(win, args.path, demo=args.demo))
    win.show()
    return app.exec()


def fit_to_screen(win) -> None:
    """The window's first size (1280 x 820) kept within its screen, with room for the
    title bar: a 1920 x 1080 laptop screen at 150 % is 1280 x 720, and the status bar
    and the image counts ran off its bottom."""
    screen = win.screen()
    if screen is None:
        return
    room = screen.availableGeometry()
    width = min(win.width(), int(room.width() * 0.96))
    height = min(win.height(), int(room.height() * 0.92))
    win.resize(width, height)
    win.move(room.x() + (room.width() - width) // 2, room.y() + (room.height() - height) // 3)


def _report_startup(win, mode: str) -> None:
    """For benchmarks/bench_startup.py: print ``SHOWN <s> torch_loaded=…`` when the window
    shows; ``quit`` closes it then; ``propose`` proposes once the engine is ready and prints
    ``ENGINE <s> <device>`` and ``MASK <s> torch_loaded=…`` (seconds since start), then closes.
    """
    from PySide6.QtCore import QTimer

    def say(tag: str, rest: str) -> None:
        print(f"{tag} {time.perf_counter() - _T0:.3f} {rest}", flush=True)

    def torch_loaded() -> str:
        return f"torch_loaded={'torch' in sys.modules}"

    win.firstShown.connect(lambda: say("SHOWN", torch_loaded()))
    if mode == "quit":
        win.firstShown.connect(lambda: QTimer.singleShot(0, win.close))
    if mode != "propose":
        return
    session, asked = win.session, []

    def propose() -> None:
        if session.doc is None:  # the project is not open yet
            QTimer.singleShot(10, propose)
        elif not asked:
            asked.append(True)
            win.propose()

    def done(*_args) -> None:
        say("MASK", torch_loaded())
        QTimer.singleShot(0, win.close)

    session.engine.engineReady.connect(lambda device: say("ENGINE", device))
    session.engine.engineReady.connect(propose)
    session.engine.proposalReady.connect(done)
    session.engine.proposalFailed.connect(done)


def open_startup(win, path: str | None, demo: bool = False) -> bool:
    """The demo, a PATH (any name), else the last project if still there (else the welcome)."""
    if demo:
        return win.open_demo()
    if path:
        return win.open_path(Path(path).expanduser())
    last = win.settings.value("last_project")
    if last and Path(str(last)).is_dir():
        return win.open_path(str(last))
    return False
