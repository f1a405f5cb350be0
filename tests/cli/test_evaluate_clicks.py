"""``segapp evaluate MODEL --data DATA --clicks`` with a fake refiner whose answers are known."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from segapp.cli.main import main


class BrightRefiner:
    """A positive click takes the image's bright piece under it; proposes nothing."""

    name = "bright (test)"

    def refine(self, image, prev, clicks):
        out = prev.copy()
        _, labels = cv2.connectedComponents((image[..., 0] > 100).astype(np.uint8))
        for c in clicks:
            at = labels[int(c.y), int(c.x)]
            if at:
                out[labels == at] = c.positive
        return out

    def propose(self, image):
        return np.zeros(image.shape[:2], bool)


@pytest.fixture
def loaded(monkeypatch) -> list[str]:
    """``load_refiner`` answers a BrightRefiner; the list records what it was asked for
    (checkpoint, device)."""
    asked: list[tuple[str, str]] = []

    def load_refiner(model_dir, device="cpu"):
        asked.append((model_dir, device))
        return BrightRefiner()

    try:
        import segapp.ml.interactive as module
    except ImportError:  # before segapp/ml/interactive.py exists
        module = types.ModuleType("segapp.ml.interactive")
        monkeypatch.setitem(sys.modules, "segapp.ml.interactive", module)
    monkeypatch.setattr(module, "load_refiner", load_refiner, raising=False)
    return asked


@pytest.fixture
def data(tmp_path) -> tuple[Path, Path]:
    """Three 48x48 images with one bright square each (its mask), and a checkpoint folder."""
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(3):
        mask = np.zeros((48, 48), np.uint8)
        mask[5 + i : 25 + i, 10 : 30 + 2 * i] = 255
        image = np.dstack([mask // 255 * 200 + 20] * 3).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"{i}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)
    model = tmp_path / "run"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model": {}, "val_images": ["1"]}))
    return root, model


def _json(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]


def test_json_figures(loaded, data, capsys):
    root, model = data
    argv = ["evaluate", str(model), "--data", str(root), "--clicks", "--json", "--device", "cpu"]
    assert main(argv) == 0
    (r,) = _json(capsys)
    assert loaded == [(str(model), "cpu")]
    assert r["model"] == str(model) and r["refiner"] == "bright (test)" and r["from"] == "proposal"
    assert r["images"] == 3 and r["max_clicks"] == 20 and r["start_iou"] == 0.0
    assert r["noc85"] == r["noc90"] == 1 and r["iou_1"] == 1.0 and r["clicks"] == 3
    assert r["worse_share"] == 0 and r["brush90"] > r["noc90"]
    assert r["refine_ms_mean"] >= 0 and r["refine_ms_p95"] >= 0


def test_table_from_empty_max_clicks_and_val_split(loaded, data, capsys):
    root, model = data
    argv = ["evaluate", str(model), "--data", str(root), "--clicks", "--from", "empty"]
    assert main(argv + ["--max-clicks", "3", "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "NoC@90" in out and "bright (test)" in out and "at most 3 clicks and 3 dabs" in out
    assert main(argv + ["--max-clicks", "3", "--split", "val", "--json"]) == 0
    (r,) = _json(capsys)
    assert r["images"] == 1 and r["from"] == "empty" and r["brush90"] == 3  # never reached


def _error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err and err[-1].startswith("segapp: error: "), err
    return err[-1]


def test_errors(loaded, data, tmp_path, capsys):
    root, model = data
    base = ["evaluate", str(model), "--data", str(root)]
    assert "--max-clicks must be >= 1" in _error(capsys, base + ["--clicks", "--max-clicks", "0"])
    assert "go with --clicks" in _error(capsys, base + ["--from", "empty"])
    assert "go with --clicks" in _error(capsys, base + ["--max-clicks", "5"])
    assert "--sheet" in _error(capsys, base + ["--clicks", "--sheet", str(tmp_path / "s.png")])
    missing = str(tmp_path / "nothing")
    assert "no such checkpoint" in _error(
        capsys, ["evaluate", missing, "--data", str(root), "--clicks"]
    )
    empty = tmp_path / "unlabeled"
    (empty / "images").mkdir(parents=True)
    cv2.imwrite(str(empty / "images" / "a.png"), np.zeros((8, 8), np.uint8))
    assert "no image has a mask" in _error(
        capsys, ["evaluate", str(model), "--data", str(empty), "--clicks"]
    )
    assert loaded == []  # no refiner was loaded for any of these


def test_a_real_checkpoint(tmp_path, capsys):
    """The real load_refiner on a tiny checkpoint (clicks or the GrabCut fallback)."""
    from conftest import make_dataset

    data = make_dataset(tmp_path / "data", n=4, height=40, width=40)
    run = tmp_path / "run"
    train = ["train", str(data), "--model", "unet-small", "--out", str(run), "--epochs", "1"]
    assert main([*train, "--size", "32", "--device", "cpu", "--json"]) == 0
    capsys.readouterr()
    argv = ["evaluate", str(run), "--data", str(data), "--clicks", "--max-clicks", "2"]
    assert main([*argv, "--device", "cpu", "--json"]) == 0
    (r,) = _json(capsys)
    assert r["images"] == 4 and r["max_clicks"] == 2 and 0 <= r["noc90"] <= 2
    assert "refines" in r["refiner"] and 0 <= r["iou_1"] <= 1
