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
from segapp.ml import recipe


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


def _onnx_export_of(model: Path) -> Path:
    """Where a checkpoint's export is cached once ``Predictor`` ran it on ONNX Runtime."""
    from segapp.ml.checkpoint import load_model
    from segapp.ml.onnx_backend import cached_path

    loaded = load_model(str(model))
    return cached_path(loaded.model, loaded.spec)


def _error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err and err[-1].startswith("segapp: error: ")
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def _strict_json(line: str) -> dict:
    """A JSON object as any tool reads it: NaN or Infinity refused."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON: {line}")

    return json.loads(line, parse_constant=refuse)


EPOCH_KEYS = {
    "event", "epoch", "epochs", "train_loss", "val_loss", "val_iou", "val_dice", "lr",
    "seconds", "eta_seconds", "images_per_second", "best_epoch", "best_iou", "stopped",
    "val_images", "val_trusted", "steps_done", "steps", "steps_planned",
}  # fmt: skip


def test_train_budget_counts_from_when_the_command_began(tmp_path, monkeypatch):
    """``segapp train`` hands the training the moment its command began, so that a round's
    time budget also holds importing torch and reading the images."""
    import time

    import segapp.ml.train

    seen = {}

    def fake_train(config, should_stop=None, on_batch=None, started_at=None):
        seen["started_at"], seen["called_at"] = started_at, time.perf_counter()
        return iter(())

    monkeypatch.setattr(segapp.ml.train, "train", fake_train)
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    before = time.perf_counter()
    assert main(["train", str(data), "--out", str(tmp_path / "r"), "--device", "cpu"]) == 0
    assert before <= seen["started_at"] < seen["called_at"]


@pytest.mark.parametrize("n_images", [20, 6], ids=["validated", "too-few-to-validate"])
def test_train_json_lines_say_what_happened(tmp_path, capsys, n_images):
    """Every stdout line is strict JSON: batch lines, one epoch line per epoch with figures
    of the right type and range that agree with each other, metrics.csv and the schedule,
    then the done line."""
    data = make_dataset(tmp_path / "d", n=n_images, height=32, width=32)
    out = tmp_path / "r"
    argv = ["train", str(data), "--model", "unet-small", "--out", str(out), "--epochs", "3"]
    argv += ["--size", "32", "--batch-size", "4", "--lr", "0.003", "--val-fraction", "0.5"]
    argv += ["--augment", "light", "--time-budget", "0", "--device", "cpu", "--json"]
    assert main(argv) == 0
    events = [_strict_json(line) for line in capsys.readouterr().out.splitlines()]
    validated = n_images == 20  # 10 validation images; 3 of 6 are too few: all 6 train
    n_train, n_val = (10, 10) if validated else (6, 0)
    config = json.loads((out / "config.json").read_text())
    sched = config["schedule"]
    steps, total = sched["steps_per_epoch"], sched["epochs"] * sched["steps_per_epoch"]
    warmup = recipe.Schedule(**sched).warmup_steps
    assert (sched["batch_size"], sched["epochs"]) == (4, 3) and steps == n_train // 4

    assert [e["event"] for e in events] == (["batch"] * steps + ["epoch"]) * 3 + ["done"]
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    epochs = [e for e in events if e["event"] == "epoch"]
    for i, e in enumerate(epochs):
        batches = events[i * (steps + 1) : i * (steps + 1) + steps]
        assert [(b["batch"], b["batches"], b["step"], b["steps"]) for b in batches] == [
            (k, steps, i * steps + k, total) for k in range(1, steps + 1)
        ]
        assert all(
            set(b) == {"event", "batch", "batches", "loss", "step", "steps"} for b in batches
        )
        assert (e["steps_done"], e["steps"], e["steps_planned"]) == ((i + 1) * steps, total, total)
        assert all(isinstance(b["loss"], float) and 0 < b["loss"] < 10 for b in batches)

        assert set(e) == EPOCH_KEYS
        assert (e["epoch"], e["epochs"], e["stopped"]) == (i + 1, 3, False)
        assert type(e["epoch"]) is int and type(e["best_epoch"]) is int
        assert isinstance(e["train_loss"], float) and 0 < e["train_loss"] < 10
        assert e["train_loss"] == pytest.approx(
            np.mean([b["loss"] for b in batches]), abs=1e-4
        )  # batches of equal size: the epoch's loss is their mean
        lr = 0.003 * recipe.lr_factor((i + 1) * steps, total, warmup)
        assert e["lr"] == round(lr, 6)  # the rate after this epoch's last step
        assert e["seconds"] > 0
        seen = 4 * steps  # the last, smaller batch is dropped
        assert e["images_per_second"] * e["seconds"] == pytest.approx(seen, rel=1e-3)
        recent = [x["seconds"] for x in epochs[: i + 1]][-3:]
        assert e["eta_seconds"] == pytest.approx(np.mean(recent) * (2 - i), rel=1e-3, abs=1e-5)
        assert (e["val_images"], e["val_trusted"]) == (n_val, validated)
        if validated:
            assert all(0 <= e[k] <= 1 for k in ("val_iou", "val_dice")) and e["val_loss"] > 0
            so_far = [x["val_iou"] for x in epochs[: i + 1]]
            assert e["best_iou"] == max(so_far)
            assert e["best_epoch"] == 1 + so_far.index(max(so_far))
        else:  # nothing to score on: null, never NaN or a made-up 0; the newest is kept
            assert e["val_iou"] is e["val_dice"] is e["val_loss"] is e["best_iou"] is None
            assert e["best_epoch"] == e["epoch"]
        row = rows[i].split(",")
        assert int(row[0]) == e["epoch"] and float(row[1]) == e["train_loss"]

    done, last = events[-1], epochs[-1]
    assert done == {
        "event": "done",
        "out": str(out.resolve()),
        "best_epoch": last["best_epoch"],
        "best_val_iou": last["best_iou"],
        "stopped": False,
        "left_out": [],  # pairs the run could not use, with why (config.json's left_out)
    }
    assert config["metrics"]["epoch"] == done["best_epoch"]  # the checkpoint it names
    assert config["metrics"]["best_val_iou"] == done["best_val_iou"]


def test_whole_images_are_squashed_unless_letterboxed(trained, tmp_path):
    """The checkpoint records how its images were brought to --size: squashed by default,
    letterboxed with --keep-aspect."""
    data, run = trained
    assert json.loads((run / "config.json").read_text())["train"]["keep_aspect"] is False
    out = tmp_path / "letterboxed"
    argv = ["train", str(data), "--model", "unet-small", "--out", str(out), "--epochs", "1"]
    assert main([*argv, "--size", "32", "--device", "cpu", "--keep-aspect"]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["keep_aspect"] is True


def test_distractors_are_recorded_and_checked(trained, tmp_path, capsys):
    data, run = trained
    assert json.loads((run / "config.json").read_text())["train"]["distractors"] == 0.3
    argv = ["train", str(data), "--model", "unet-small", "--epochs", "1", "--size", "32"]
    out = tmp_path / "none"
    assert main([*argv, "--out", str(out), "--device", "cpu", "--distractors", "0"]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["distractors"] == 0
    assert main([*argv, "--out", str(tmp_path / "bad"), "--distractors", "1.5"]) != 0
    assert "--distractors must be between 0 and 1" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["train"]["object_blur"] == 0.2
    assert json.loads((out / "config.json").read_text())["train"]["object_blur"] == 0.2
    assert main([*argv, "--out", str(tmp_path / "bad"), "--object-blur", "-0.1"]) != 0
    assert "--object-blur must be between 0 and 1" in capsys.readouterr().err


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
    assert _onnx_export_of(run).is_file()  # the CPU's default: ONNX Runtime predicted
    assert set(np.unique(mask)) <= {0, 255}
    assert cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED).shape == (33, 45)
    # stderr is no terminal here (a log file, say): plain lines, not a bar's redraws
    stderr = capsys.readouterr().err
    assert "\r" not in stderr and "predict: 2/2 img" in stderr, stderr


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


def test_evaluate_refuses_a_sheet_it_cannot_write_before_scoring(
    trained, tmp_path, capsys, monkeypatch
):
    data, run = trained
    from segapp.ml import evaluate

    scored = []
    monkeypatch.setattr(evaluate, "evaluate_models", lambda *a, **k: scored.append(1) or [])
    (tmp_path / "a-file").write_text("x")
    sheet = tmp_path / "a-file" / "sheet.png"
    argv = ["evaluate", str(run), "--data", str(data), "--sheet", str(sheet)]
    msg = _error(capsys, argv)
    assert f"{tmp_path / 'a-file'} is a file, not a folder" in msg and not scored


def test_evaluate_json_matches_metrics(trained, capsys):
    data, run = trained
    assert main(["evaluate", str(run), "--data", str(data), "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 8 and 0 <= result["iou"] <= 1


def test_predict_and_evaluate_refine_as_the_model_says_unless_told(trained, tmp_path, capsys):
    """The run decided to refine its proposals (colour discs on noise); --refine overrides."""
    data, run = trained
    assert json.loads((run / "config.json").read_text())["proposals"]["refine"] == "grabcut"
    for refine in ("model", "none"):
        argv = ["evaluate", str(run), "--data", str(data), "--device", "cpu", "--json"]
        assert main([*argv, "--refine", refine]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["refine"] == ("grabcut" if refine == "model" else "none")
    assert main(["evaluate", str(run), "--data", str(data), "--device", "cpu"]) == 0
    assert "refined" in capsys.readouterr().out
    image = sorted((data / "images").iterdir())[0]
    masks = {}
    for refine in ("model", "none"):
        out = tmp_path / refine
        argv = ["predict", str(run), str(image), "--out", str(out), "--device", "cpu"]
        assert main([*argv, "--refine", refine]) == 0
        masks[refine] = cv2.imread(str(out / f"{image.stem}.png"), cv2.IMREAD_UNCHANGED)
    assert masks["model"].shape == masks["none"].shape
    assert set(np.unique(masks["model"])) <= {0, 255}


def test_predict_never_replaces_masks_unless_told(trained, tmp_path, capsys):
    """Pointed at a data set's masks/ (ground truth, or a project's corrected masks), predict
    refuses before any work, one line; --overwrite replaces them."""
    import shutil

    data, run = trained
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    truth = {p.name: p.read_bytes() for p in (copy / "masks").iterdir()}
    argv = ["predict", str(run), str(copy / "images"), "--out", str(copy / "masks")]
    msg = _error(capsys, [*argv, "--device", "cpu"])
    assert "already there" in msg and "--overwrite" in msg
    assert {p.name: p.read_bytes() for p in (copy / "masks").iterdir()} == truth
    assert main([*argv, "--device", "cpu", "--overwrite"]) == 0
    assert {p.name: p.read_bytes() for p in (copy / "masks").iterdir()} != truth


def test_predict_says_its_out_cannot_be_written_before_the_model_loads(
    trained, tmp_path, capsys, monkeypatch
):
    """An --out that is a file was found at the first mask, after the model had loaded and
    the progress bar had started."""
    from segapp.ml import checkpoint

    def never(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(checkpoint, "load_model", never)
    data, run = trained
    (tmp_path / "afile").write_text("x")
    msg = _error(capsys, ["predict", str(run), str(data), "--out", str(tmp_path / "afile")])
    assert f"{tmp_path / 'afile'} is a file, not a folder; choose another place" in msg


def test_train_never_replaces_a_trained_model_and_checks_workers(trained, capsys):
    """Before any work: another run into a checkpoint's folder is refused (its model stays),
    and a negative --workers is one line, not a traceback."""
    data, run = trained
    weights = (run / "model.safetensors").read_bytes()
    argv = ["train", str(data), "--model", "unet-small", "--epochs", "1", "--size", "32"]
    msg = _error(capsys, [*argv, "--out", str(run)])
    assert "holds a trained model already" in msg and "--resume" in msg
    assert (run / "model.safetensors").read_bytes() == weights
    msg = _error(capsys, [*argv, "--out", str(run.parent / "other"), "--workers", "-2"])
    assert "--workers must be >= 0" in msg
    (run.parent / "a-file").write_text("x")  # an --out that cannot be made: said before
    nowhere = ["train", str(run.parent / "no-such-data"), "--model", "unet-small"]  # any work
    msg = _error(capsys, [*nowhere, "--out", str(run.parent / "a-file" / "run")])
    assert f"{run.parent / 'a-file'} is a file, not a folder; choose another place" in msg


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


BREAKERS = {
    "mask is 32x31 but its image is 32x32": lambda d, i: cv2.imwrite(
        str(d / "masks" / f"{i}.png"), np.zeros((31, 32), np.uint8)
    ),
    "values [7] are not classes": lambda d, i: cv2.imwrite(
        str(d / "masks" / f"{i}.png"), np.full((32, 32), 7, np.uint8)
    ),
    "file is empty": lambda d, i: (d / "images" / f"{i}.png").write_bytes(b""),
}


@pytest.mark.parametrize("reason", list(BREAKERS))
def test_a_broken_pair_is_left_out_with_its_reason(tmp_path, capsys, caplog, reason):
    """The run trains on the other pairs and says, in its log and its done line, which
    pair it left out and why; when every pair is broken it stops with that reason."""
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    BREAKERS[reason](data, 0)
    argv = ["train", str(data), "--model", "unet-small", "--epochs", "1", "--size", "32"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--json"]) == 0
    out = capsys.readouterr().out
    said = [r.getMessage() for r in caplog.records if "left out of this round" in r.getMessage()]
    assert len(said) == 1 and f"0.png: {reason}" in said[0]
    done = json.loads(out.strip().splitlines()[-1])
    assert len(done["left_out"]) == 1 and reason in done["left_out"][0]
    for i in (1, 2, 3):
        BREAKERS[reason](data, i)
    msg = _error(capsys, [*argv, "--out", str(tmp_path / "r2")])
    assert "no usable training image" in msg and reason in msg


def test_proposals_nobody_corrected_are_neither_trained_on_nor_scored_against(
    trained, tmp_path, capsys, caplog
):
    """A project after "Propose all unlabeled" holds masks segapp.json records as
    proposals: `segapp train` trained on them and `evaluate` scored a model against them
    (against its own proposals, for a version that made them)."""
    from segapp.core.project import Project

    data = make_dataset(tmp_path / "d", n=5, height=32, width=32)
    project = Project.open(data)
    for stem in ("3", "4"):  # the model's proposals, as the window saves them
        entry = project.entry(stem)
        project.write_labels(entry, project.read_labels(entry), "proposed", "v001")
    project.save()
    argv = ["train", str(data), "--model", "unet-small", "--epochs", "1", "--size", "32"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--val-fraction", "0"]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert sorted(config["images"]) == ["0", "1", "2"] and config["skipped_proposed"] == 2
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "left out 2 masks that are proposals nobody corrected" in said
    capsys.readouterr()
    assert main(["evaluate", str(trained[1]), "--data", str(data), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["images"] == 3
    for stem in ("0", "1", "2"):
        entry = project.entry(stem)
        project.write_labels(entry, project.read_labels(entry), "proposed", "v001")
    msg = _error(capsys, [*argv, "--out", str(tmp_path / "r2")])
    assert "the 5 masks here are proposals nobody corrected" in msg
    assert "corrected mask (its 5 are proposals)" in _error(
        capsys, ["evaluate", str(trained[1]), "--data", str(data)]
    )


def test_epoch_lines_say_when_there_is_nothing_to_validate_on(tmp_path, capsys):
    """Without validation images each epoch line read "val loss nan  val IoU nan  Dice nan
    ... (best)"; with a few, too few to choose an epoch, no epoch is called best."""
    data = make_dataset(tmp_path / "d", n=4, height=32, width=32)
    argv = ["train", str(data), "--model", "unet-small", "--epochs", "2", "--size", "32"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--val-fraction", "0"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("epoch ")]
    assert len(lines) == 2
    assert all("no validation images" in x and "nan" not in x and "best" not in x for x in lines)
    (tmp_path / "val.txt").write_text("3\n")
    assert (
        main([*argv, "--out", str(tmp_path / "r2"), "--val-images", str(tmp_path / "val.txt")]) == 0
    )
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("epoch ")]
    assert len(lines) == 2 and all("val IoU 0." in x or "val IoU 1." in x for x in lines)
    assert not any("(best)" in x for x in lines)


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


@pytest.mark.parametrize(
    "extra, said",
    [
        (["predict", "--threshold", "5"], "argument --threshold: 5 is not between 0 and 1"),
        (["predict", "--threshold", "nan"], "argument --threshold: nan is not between 0 and 1"),
        (["predict", "--threshold", "-1"], "argument --threshold: -1 is not between 0 and 1"),
        (["evaluate", "--threshold", "2"], "argument --threshold: 2 is not between 0 and 1"),
        (["predict", "--tile", "0"], "argument --tile: 0 is less than 64 px"),
        (["predict", "--tile", "-3"], "argument --tile: -3 is less than 64 px"),
        (["evaluate", "--samples", "0"], "argument --samples: 0 is less than 1"),
    ],
)
def test_options_out_of_range_are_refused_before_any_work(trained, tmp_path, capsys, extra, said):
    """A threshold of 5 wrote empty masks with exit code 0; --tile 0 never finished."""
    data, run = trained
    command, *options = extra
    where = ["--out", str(tmp_path / "out")] if command == "predict" else ["--data", str(data)]
    if command == "predict":
        argv = [command, str(run), str(data), *where, *options]
    else:
        argv = [command, str(run), *where, *options]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_sheet_in_a_read_only_folder_names_that_folder(trained, tmp_path, capsys, monkeypatch):
    """It named the folder above ("no permission to write in /root/walk5")."""
    import errno

    data, run = trained
    folder = tmp_path / "ro"
    folder.mkdir()
    write_bytes = Path.write_bytes

    def read_only(self, data):
        if self.parent == folder:
            raise PermissionError(errno.EROFS, "Read-only file system")
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    msg = _error(
        capsys, ["evaluate", str(run), "--data", str(data), "--sheet", str(folder / "s.png")]
    )
    assert (
        msg
        == f"segapp: error: {folder}: no permission to write in {folder} (read-only folder?); choose a writable folder"
    )


def test_an_error_under_a_progress_bar_is_on_a_line_of_its_own(tmp_path):
    """A full disk at the end of an epoch printed the error glued to the end of the bar's
    line. (A process of its own: a run that fails mid-way leaves nothing in the tests'.)"""
    data = make_dataset(tmp_path / "data", n=3, height=40, width=40)
    out = tmp_path / "run"
    (out / "metrics.csv").mkdir(parents=True)  # written after the first epoch: it fails
    argv = ["train", str(data), "--model", "unet-small", "--out", str(out), "--epochs", "2"]
    code, stderr = _run_on_a_terminal([*argv, "--size", "32", "--device", "cpu"])
    assert code == 2, stderr
    assert "train:" in stderr  # the bar was drawn (stderr is a terminal)
    errors = [ln for ln in stderr.replace("\r", "\n").splitlines() if "segapp: error" in ln]
    assert errors and all(ln.startswith("segapp: error: ") for ln in errors), stderr
    assert "metrics.csv" in errors[0]


def _run_on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """``python -m segapp ARGV`` with stderr on a pseudo-terminal (so its bars are drawn):
    (exit code, stderr)."""
    import fcntl
    import pty
    import struct
    import termios

    main_fd, child_fd = pty.openpty()
    # a terminal of 24 x 100 (a new one is 0 x 0, and tqdm draws a bar of no width)
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "segapp", *argv], stdout=subprocess.DEVNULL, stderr=child_fd
    )
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 4096)
        except OSError:  # the child's end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    return proc.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def test_a_log_file_gets_the_epoch_lines_not_every_redraw_of_the_bar(tmp_path):
    """stderr sent to a file filled it with the bar's redraws joined by carriage returns,
    the last one twice."""
    data = make_dataset(tmp_path / "data", n=3, height=40, width=40)
    argv = ["train", str(data), "--model", "unet-small", "--out", str(tmp_path / "run")]
    proc = subprocess.run(
        [sys.executable, "-m", "segapp", *argv, "--epochs", "2", "--size", "32", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "batch/s" not in proc.stderr
    assert [ln[:9] for ln in proc.stdout.splitlines() if ln.startswith("epoch")] == [
        "epoch 1/2",
        "epoch 2/2",
    ]


@pytest.mark.parametrize("reason", list(BREAKERS))
def test_evaluate_leaves_a_broken_pair_out_and_scores_the_rest(
    trained, tmp_path, capsys, caplog, reason
):
    """One unreadable pair stopped the whole evaluation, where train and predict go on."""
    import shutil

    data, run = trained
    copy = shutil.copytree(data, tmp_path / "d")
    if reason.startswith("mask is"):  # the trained set's images are 40x40
        cv2.imwrite(str(copy / "masks" / "0.png"), np.zeros((39, 40), np.uint8))
    else:
        BREAKERS[reason](copy, 0)
    assert main(["evaluate", str(run), "--data", str(copy), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 7 and result["left_out"] == 1
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("left out: ")]
    assert len(said) == 1 and "0.png" in said[0]


def test_evaluate_finds_a_broken_checkpoint_before_scoring_any(
    trained, tmp_path, capsys, monkeypatch
):
    """The first model was scored in full before the second's damage was found."""
    import shutil

    from segapp.ml import evaluate

    def never(*a, **k):
        raise AssertionError("a model was scored")

    monkeypatch.setattr(evaluate, "Predictor", never)
    data, run = trained
    broken = shutil.copytree(run, tmp_path / "broken")
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    err_before = main(["evaluate", str(run), str(broken), "--data", str(data)])
    captured = capsys.readouterr()
    assert err_before == 2 and "IoU" not in captured.out  # no table of the first one
    assert str(broken) in captured.err


def test_train_says_when_its_image_list_names_no_image_here(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n=3, height=32, width=32)
    (tmp_path / "stems.txt").write_text("nope\nzzz\n")
    argv = ["train", str(data), "--model", "unet-small", "--out", str(tmp_path / "r")]
    msg = _error(capsys, [*argv, "--images", str(tmp_path / "stems.txt")])
    assert "none of the 2 stems listed (nope, zzz) is an image with a corrected mask" in msg


def test_evaluate_pointed_at_the_images_folder_says_what_it_wants(trained, capsys):
    data, run = trained
    msg = _error(capsys, ["evaluate", str(run), "--data", str(data / "images")])
    assert "--data wants the folder that holds images/ and masks/" in msg
