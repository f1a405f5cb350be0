"""The headless CLI as a user runs it: outputs, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_dataset

from segapp.cli.main import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = make_dataset(root / "data", n=8, height=40, width=40)
    code = main(
        [
            "train",
            str(data),
            "--model",
            "unet-small",
            "--out",
            str(root / "run"),
            "--epochs",
            "1",
            "--size",
            "32",
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert code == 0
    return data, root / "run"


def _error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err and err[-1].startswith("segapp: error: ")
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_train_json_lines(trained, capsys):
    data, run = trained
    assert (run / "model.safetensors").exists()


def test_train_json_output_parses(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n=6, height=32, width=32)
    assert (
        main(
            [
                "train",
                str(data),
                "--model",
                "unet-small",
                "--out",
                str(tmp_path / "r"),
                "--epochs",
                "2",
                "--size",
                "32",
                "--device",
                "cpu",
                "--json",
            ]
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for key in ("train_loss", "val_loss", "val_iou", "val_dice", "seconds", "eta_seconds"):
        assert key in epochs[0]
    assert events[-1]["event"] == "done"


def test_predict_writes_masks_for_any_size(trained, tmp_path, capsys):
    _, run = trained
    img = np.random.default_rng(0).integers(0, 255, (70, 130, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "odd.jpg"), img)
    gray16 = (np.random.default_rng(1).random((33, 45)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.tif"), gray16)
    assert (
        main(
            [
                "predict",
                str(run),
                str(tmp_path / "odd.jpg"),
                str(tmp_path / "deep.tif"),
                "--out",
                str(tmp_path / "out"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    mask = cv2.imread(str(tmp_path / "out" / "odd.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (70, 130) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED).shape == (33, 45)


def test_evaluate_table_and_sheet(trained, tmp_path, capsys):
    data, run = trained
    assert (
        main(
            [
                "evaluate",
                str(run),
                str(run),
                "--data",
                str(data),
                "--device",
                "cpu",
                "--sheet",
                str(tmp_path / "sheet.png"),
                "--samples",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count(str(run)[-20:]) >= 2 and "IoU" in out
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape[1] == 4 * 256 and sheet.shape[0] > 2 * 256


def test_evaluate_json_matches_metrics(trained, capsys):
    data, run = trained
    assert main(["evaluate", str(run), "--data", str(data), "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 8 and 0 <= result["iou"] <= 1


def test_models_lists_presets(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in (
        "unet-small",
        "unet",
        "unet-paper",
        "unet-strided",
        "unetpp",
        "pretrained-lite0",
        "pretrained-lite1",
        "pretrained-resnet34",
    ):
        assert f"\n{name} " in out
    assert "0.48M" in out  # unet-small's parameter count


def test_truncated_image(trained, tmp_path, capsys):
    """Unreadable files are skipped with a line each; the others still get masks."""
    data, run = trained
    ok, buf = cv2.imencode(".jpg", np.full((50, 50, 3), 128, np.uint8))
    (tmp_path / "cut.jpg").write_bytes(buf.tobytes()[: len(buf) // 2])
    code = main(
        [
            "predict",
            str(run),
            str(tmp_path / "cut.jpg"),
            str(data / "images" / "0.png"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and "cut.jpg: " in err
        and "1 of 2 images could not be read" in err
        and "Traceback" not in err
    )
    assert (tmp_path / "o" / "0.png").exists() and not (tmp_path / "o" / "cut.png").exists()


def test_zero_byte_image_in_training(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    (data / "images" / "1.png").write_bytes(b"")
    msg = _error(
        capsys,
        [
            "train",
            str(data),
            "--model",
            "unet-small",
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "1",
            "--size",
            "32",
        ],
    )
    assert "1.png: file is empty" in msg


def test_wrong_mask_size(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    cv2.imwrite(str(data / "masks" / "0.png"), np.zeros((31, 32), np.uint8))
    msg = _error(
        capsys,
        [
            "train",
            str(data),
            "--model",
            "unet-small",
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "1",
            "--size",
            "32",
        ],
    )
    assert "mask is 32x31 but its image is 32x32" in msg


def test_mask_values_not_classes(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    cv2.imwrite(str(data / "masks" / "3.png"), np.full((32, 32), 7, np.uint8))
    msg = _error(
        capsys,
        [
            "train",
            str(data),
            "--model",
            "unet-small",
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "1",
            "--size",
            "32",
        ],
    )
    assert "values [7] are not classes" in msg


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "no images" in _error(
        capsys, ["train", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]
    )
    assert "no images" in _error(
        capsys, ["predict", "unet-small", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]
    )


def test_unknown_preset(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n=3)
    msg = _error(
        capsys, ["train", str(data), "--model", "resnet-9000", "--out", str(tmp_path / "r")]
    )
    assert "not a model preset" in msg and "unet-small" in msg


def test_incomplete_checkpoint(trained, tmp_path, capsys):
    data, run = trained
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((run / "config.json").read_text())
    msg = _error(capsys, ["predict", str(broken), str(data), "--out", str(tmp_path / "o")])
    assert "model.safetensors is missing" in msg


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-segapp-test",))


def test_pickled_pt_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "model.pt"
    bad.write_bytes(pickle.dumps({"weights": _Payload()}))
    msg = _error(capsys, ["predict", str(bad), str(tmp_path), "--out", str(tmp_path / "o")])
    assert "pickled" in msg
    assert not (tmp_path / "pwned-by-segapp-test").exists()


def test_console_script_exit_code(tmp_path):
    """The real entry point, as a separate process: one line, exit code 2."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "segapp.cli.main",
            "predict",
            "unet-small",
            str(tmp_path / "missing.png"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"segapp: error: {Path(tmp_path / 'missing.png')}: no such file or folder"
    )
