"""Progress lines off a terminal, tqdm's bar on one."""

from __future__ import annotations

import io
import sys

from segapp.ml.progress import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_line_every_tenth_of_the_way(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    assert list(progress(range(25), "predict")) == list(range(25))
    counts = [ln.split()[1] for ln in stream.getvalue().splitlines()]
    assert counts == [f"{n}/25" for n in (3, 5, 8, 10, 13, 15, 18, 20, 23, 25)]
    assert "\r" not in stream.getvalue()


def test_few_items_get_a_line_each_and_none_when_disabled(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    list(progress(["a", "b", "c"], "evaluate", "img"))
    assert stream.getvalue().splitlines()[-1].startswith("evaluate: 3/3 img (")
    assert len(stream.getvalue().splitlines()) == 3
    stream.truncate(0)
    stream.seek(0)
    assert list(progress([1, 2], "x", disable=True)) == [1, 2]
    assert stream.getvalue() == ""


def test_on_a_terminal_the_bar_is_drawn(monkeypatch):
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    assert list(progress(range(4), "predict")) == list(range(4))
    assert "\r" in stream.getvalue() and "4/4" in stream.getvalue()
