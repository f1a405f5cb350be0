"""Re-thresholding a refined proposal in a thread: the latest request wins."""

from __future__ import annotations

import threading

import numpy as np

from segapp.ui.labeling import rethreshold
from segapp.ui.labeling.rethreshold import Rethreshold


def _slow(monkeypatch, gate: threading.Event, calls: list):
    def labels(image, probs, threshold, method):
        calls.append(threshold)
        assert gate.wait(10)
        if method == "boom":
            raise ValueError("no colour model")
        return (probs > threshold).astype(np.uint8)

    monkeypatch.setattr(rethreshold, "proposal_labels", labels)


def test_requests_made_while_one_runs_coalesce_into_the_latest(qtbot, monkeypatch):
    gate, calls, applied = threading.Event(), [], []
    _slow(monkeypatch, gate, calls)
    r = Rethreshold(lambda key, labels: applied.append((key, labels)), applied.append)
    probs = np.linspace(0, 1, 16, dtype=np.float32).reshape(1, 4, 4)
    image = np.zeros((4, 4), np.uint8)
    for t in (0.2, 0.4, 0.6, 0.8):
        r.request("k", image, probs, t, "grabcut")
    assert r.busy
    gate.set()
    qtbot.waitUntil(lambda: not r.busy)
    assert calls == [0.2, 0.8]  # the first, then only the latest of those made meanwhile
    assert len(applied) == 1  # the first's result was outdated before it came back
    key, labels = applied[0]
    assert key == "k" and np.array_equal(labels, (probs > 0.8).astype(np.uint8))


def test_cancel_drops_the_running_result_and_errors_are_reported(qtbot, monkeypatch):
    gate, calls, applied, errors = threading.Event(), [], [], []
    _slow(monkeypatch, gate, calls)
    r = Rethreshold(lambda key, labels: applied.append(key), errors.append)
    probs = np.zeros((1, 4, 4), np.float32)
    r.request("a", probs[0], probs, 0.5, "grabcut")
    r.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not r.busy)
    assert applied == [] and errors == []
    r.request("b", probs[0], probs, 0.5, "boom")
    qtbot.waitUntil(lambda: not r.busy)
    assert applied == [] and errors == ["no colour model"]
