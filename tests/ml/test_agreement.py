"""Review masks: a version's proposals against the corrected masks, worst first."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_dataset
from qt_helpers import tiny_checkpoint

from segapp.core.project import IGNORE_INDEX, Project
from segapp.ml.agreement import compare
from segapp.ml.job_process import run_job


def test_compare_counts_claimed_and_missed_as_shares_of_the_mask():
    mask = np.zeros((10, 10), np.uint8)
    mask[:, :4] = 1  # 40 pixels
    proposed = np.zeros_like(mask)
    proposed[:, 2:8] = 1  # 60 pixels: 20 shared, 40 beyond the mask, 20 of it missed
    a = compare("x", proposed, mask, trained=True)
    assert (a.iou, a.claimed, a.missed, a.trained) == (pytest.approx(20 / 80), 1.0, 0.5, True)
    assert compare("e", np.zeros_like(mask), np.zeros_like(mask), False).iou == 1.0
    mask[:, 8:] = IGNORE_INDEX  # what the mask leaves undecided counts in neither
    proposed[:, 8:] = 1
    assert compare("x", proposed, mask, True).claimed == 1.0
    other = mask.copy()
    other[mask == 1] = 2  # another class on the same pixels: no agreement
    assert compare("c", other, mask, True).iou == 0.0


def test_the_job_reads_every_corrected_image_worst_first(tmp_path):
    project = Project.open(make_dataset(tmp_path / "d", n=6, height=24, width=32, masks=4))
    model = tiny_checkpoint(tmp_path / "m", foreground=10.0, export=False)  # all foreground
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(config | {"images": ["0", "2"]}))
    stems = [e.stem for e in project.corrected()]
    assert stems == ["0", "1", "2", "3"]
    notes = []
    args = {"project": str(project.root), "model": str(model), "stems": stems, "device": "cpu"}
    rows, _ = run_job("agreement", args, (), notes.append)
    assert [n["done"] for n in notes] == [1, 2, 3, 4]
    shares = {}
    for stem in stems:  # an all-foreground proposal: the IoU is the mask's share
        mask = project.read_labels(project.entry(stem)) > 0
        shares[stem] = mask.mean()
    assert [r["stem"] for r in rows] == sorted(stems, key=lambda s: (round(shares[s], 4), s))
    for r in rows:
        assert r["iou"] == pytest.approx(shares[r["stem"]], abs=1e-4)
        assert r["missed"] == 0.0 and r["claimed"] == pytest.approx(
            (1 - shares[r["stem"]]) / shares[r["stem"]], abs=1e-3
        )
        assert r["trained"] == (r["stem"] in ("0", "2"))
