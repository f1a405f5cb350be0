"""segapp predict never writes one output over another, and skips what it cannot read."""

from __future__ import annotations

import json

import cv2
import fault_fixtures
import numpy as np

from segapp.cli.main import main

good_model = fault_fixtures.good_model


def test_inputs_with_one_stem_get_distinct_masks(tmp_path, capsys, good_model):
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    for rel in ("a/x.png", "a/x.jpg", "b/x.png", "b/x_2.png", "a/bad.png"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / rel), image)
    (tmp_path / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    code = main(
        ["predict", str(good_model), str(tmp_path / "a"), str(tmp_path / "b")]
        + ["--out", str(out), "--json"]
    )
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    masks = [line["mask"] for line in lines]
    assert code == 2 and len(masks) == len(set(masks)) == 4  # bad.png skipped, not the rest
    # a/x.jpg keeps x.png; a/x.png and b/x.png get x_3, x_4 (b/x_2.png owns x_2)
    assert {p.name for p in out.iterdir()} == {"x.png", "x_2.png", "x_3.png", "x_4.png"}
    err = captured.err.strip().splitlines()
    assert all(line.startswith("segapp: ") for line in err)
    assert any("bad.png" in line and "skipped" in line for line in err)
