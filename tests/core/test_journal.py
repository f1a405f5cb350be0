"""The status journal: cheap status writes, replayed on open, folded on save, crash-safe.

The rule under test: after a crash at any moment, an image never reads as corrected while
its mask on disk is a model's proposal.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import make_dataset

import segapp.core.project as project_module
from segapp.core.imageio import read_mask
from segapp.core.project import Project


class Crash(BaseException):
    """The process dies here (nothing after this point runs)."""


def _labels(kind: str) -> np.ndarray:
    """Distinct masks: proposals P1, P2 and corrections C1, C2."""
    labels = np.zeros((64, 64), np.uint8)
    y, x = {"P1": (0, 0), "P2": (0, 32), "C1": (32, 0), "C2": (32, 32)}[kind]
    labels[y : y + 32, x : x + 32] = 1
    return labels


def _on_disk(project: Project, stem: str) -> str | None:
    path = project.entry(stem).mask_path
    if not path.exists():
        return None
    labels = project.labels_from_mask(read_mask(path))
    return next(k for k in ("P1", "P2", "C1", "C2") if np.array_equal(labels, _labels(k)))


def test_status_writes_append_to_the_journal_and_save_folds_it(tmp_path):
    data = make_dataset(tmp_path / "d", n=3, masks=0)
    project = Project.open(data)
    project.save()
    meta_before = (data / "segapp.json").read_bytes()
    project.write_labels(project.entry("0"), _labels("P1"), "proposed", "v001")
    project.entry("0").proposal_iou = 0.75
    project.write_labels(project.entry("0"), _labels("C1"), "corrected")
    project.write_labels(project.entry("1"), _labels("P2"), "proposed", "v002")
    assert (data / "segapp.json").read_bytes() == meta_before  # not rewritten per mask
    assert len(project.journal_path.read_text().splitlines()) == 3
    again = Project.open(data)  # replayed, read only
    e0, e1 = again.entry("0"), again.entry("1")
    assert (e0.status, e0.proposed_by, e0.proposal_iou) == ("corrected", "v001", 0.75)
    assert (e1.status, e1.proposed_by) == ("proposed", "v002")
    assert again.journal_path.exists()
    again.save()
    assert not again.journal_path.exists()
    images = json.loads((data / "segapp.json").read_text())["images"]
    assert images["0"] == {"status": "corrected", "proposed_by": "v001", "proposal_iou": 0.75}
    assert images["1"] == {"status": "proposed", "proposed_by": "v002"}


def test_a_proposals_threshold_is_journalled_and_folded_and_a_bad_one_dropped(tmp_path):
    data = make_dataset(tmp_path / "d", n=3, masks=0)
    project = Project.open(data)
    project.entry("0").proposed_at = 0.62
    project.write_labels(project.entry("0"), _labels("P1"), "proposed", "v001")
    project.entry("1").proposed_at = 0.4  # a corrected mask keeps none
    project.write_labels(project.entry("1"), _labels("C1"), "corrected", "v001")
    with open(project.journal_path, "a") as f:  # a hand-edited line: dropped, not raised
        f.write('{"stem":"2","status":"proposed","proposed_at":7}\n')
    (data / "masks" / "2.png").write_bytes((data / "masks" / "0.png").read_bytes())
    again = Project.open(data)
    assert again.entry("0").proposed_at == 0.62
    assert again.entry("2").status == "proposed" and again.entry("2").proposed_at is None
    again.save()
    images = json.loads((data / "segapp.json").read_text())["images"]
    assert images["0"]["proposed_at"] == 0.62 and "proposed_at" not in images["1"]
    assert Project.open(data).entry("0").proposed_at == 0.62


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path):
    data = make_dataset(tmp_path / "d", n=2, masks=0)
    project = Project.open(data)
    project.write_labels(project.entry("0"), _labels("P1"), "proposed", "v001")
    with open(project.journal_path, "a") as f:
        f.write('{"stem":"1","status":"corr')
    assert Project.open(data).entry("0").status == "proposed"
    assert Project.open(data).entry("1").status == "unlabeled"


# (what is on disk before, what the session saves next) for every crash point below
SCENARIOS = [
    (None, ("P1", "proposed")),
    (None, ("C1", "corrected")),
    (("P1", "proposed"), ("C1", "corrected")),
    (("P1", "proposed"), ("P2", "proposed")),
    (("C1", "corrected"), ("P1", "proposed")),  # re-proposed over a correction (asked first)
    (("C1", "corrected"), ("C2", "corrected")),
]


@pytest.mark.parametrize("before, save", SCENARIOS)
def test_a_crash_at_any_step_never_shows_a_proposal_as_corrected(
    tmp_path, monkeypatch, before, save
):
    template = make_dataset(tmp_path / "template", n=1, masks=0)
    if before is not None:
        p = Project.open(template)
        p.write_labels(p.entry("0"), _labels(before[0]), before[1], "v001")
        if before[0] == "C1":  # a correction folded into segapp.json, as after a close
            p.save()
    steps = ["append_record", "write_mask"]
    real = {name: getattr(project_module, name) for name in steps}
    outcomes = set()
    for step in steps:
        for when in ("before", "after"):
            data = tmp_path / f"{step}-{when}"
            shutil.copytree(template, data)

            def crashing(*args, _step=step, _when=when, **kw):
                if _when == "before":
                    raise Crash
                real[_step](*args, **kw)
                raise Crash

            monkeypatch.setattr(project_module, step, crashing)
            project = Project.open(data)
            with pytest.raises(Crash):
                project.write_labels(project.entry("0"), _labels(save[0]), save[1], "v002")
            monkeypatch.setattr(project_module, step, real[step])
            reopened = Project.open(data)
            status, mask = reopened.entry("0").status, _on_disk(reopened, "0")
            assert status != "corrected" or mask in ("C1", "C2"), (step, when, mask)
            assert (status == "unlabeled") == (mask is None), (step, when, status)
            outcomes.add(status)
    if "corrected" in (save[1], before and before[1]):  # the rule was put to the test
        assert "corrected" in outcomes, outcomes


_WRITER = """
import sys, numpy as np
from segapp.core.project import Project
project = Project.open(sys.argv[1])
labels = {k: np.zeros((64, 64), np.uint8) for k in "PC"}
labels["P"][:32] = 1
labels["C"][32:] = 1
for e in project.entries:  # what the last writer left proposed: corrected before the clock
    if e.status != "corrected":
        project.write_labels(e, labels["C"], "corrected")
print("ready", flush=True)
for i in range(10**6):
    e = project.entries[i % len(project.entries)]
    project.write_labels(e, labels["P"], "proposed", "v001")
    project.write_labels(e, labels["C"], "corrected")
"""


def test_killed_while_saving_never_shows_a_proposal_as_corrected(tmp_path):
    data = make_dataset(tmp_path / "d", n=4, masks=0)
    proposal = np.zeros((64, 64), np.uint8)
    proposal[:32] = 1
    project = Project.open(data)
    for e in project.entries:  # corrected at first: the writer proposes over corrections
        project.write_labels(e, 1 - proposal, "corrected")
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(data)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.3)))
        os.kill(proc.pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        proc.wait()
        project = Project.open(data)
        corrected = [e for e in project.entries if e.status == "corrected"]
        for e in corrected:
            labels = project.labels_from_mask(read_mask(e.mask_path))
            assert not np.array_equal(labels, proposal), e.stem
        checked += len(corrected)
        assert len(project.journal_path.read_text().splitlines()) > 0
    assert checked >= 5 * 3  # at most the image being written is not corrected
