"""Every malformed input through open, import, export, train and predict, as the CLI runs them.

The rule: no traceback; an error is one ``segapp: ...`` line and exit code 2; what was saved
before is still there, byte for byte; nothing is written outside the project.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from pathlib import Path

import fault_fixtures
import pytest
from fault_corpus import CASES, Case
from fault_fixtures import snapshot

from segapp.cli.main import main
from segapp.core.imageio import SegappError
from segapp.core.project import Project

corpus, good_model = fault_fixtures.corpus, fault_fixtures.good_model  # the fixtures

COMMANDS = ("open", "import", "export", "train", "predict")
# the cases that reach a real training run (each takes seconds on a 2-core CPU)
TRAINS = {"1x1 image", "1x100000 image", "non-utf-8 file name", "very long file name"}
TRAINS |= {"jpeg named .png"}
SLOW = {("1x100000 image", "predict")}  # 100,000 px wide: 100 tiles


@dataclass
class Outcome:
    code: int
    err: list[str]
    crash: str = ""
    out: list[str] | None = None


def _cli(argv: list[str], capsys) -> Outcome:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = int(e.code or 0)
    except BaseException:  # noqa: BLE001 - this is what the test looks for
        return Outcome(-1, [], traceback.format_exc())
    captured = capsys.readouterr()
    return Outcome(code, captured.err.strip().splitlines(), out=captured.out.splitlines())


def _open(case: Case, capsys) -> Outcome:
    """What opening does without a window: the project, then every image and mask."""
    try:
        project = Project.open(case.project)
        errors = 0
        for e in project.entries:
            try:
                image = project.read_image(e)
                if e.has_mask:
                    project.read_labels(e, image.shape[:2])
            except SegappError:
                errors += 1
        return Outcome(2 if errors else 0, [])
    except SegappError as e:
        return Outcome(2, [f"segapp: error: {e}"])
    except BaseException:  # noqa: BLE001
        return Outcome(-1, [], traceback.format_exc())


def _argv(command: str, case: Case, tmp: Path, fallback: Path) -> list | None:
    model = case.model or fallback
    project = case.project
    if command == "import":
        if case.source is not None:
            return ["import", case.source[0], case.source[1], project]
        if case.model is not None:
            return None
        return ["import", "folders", project, tmp / "imported"]
    if command == "export":
        if case.model is not None:
            return ["export", "onnx", model, tmp / "model.onnx"]
        return ["export", "coco", project, tmp / "exported"]
    if command == "train":
        out = model.parent if model.is_file() else model if case.resume else tmp / "run"
        argv = ["train", project, "--out", out, "--model", "unet-small" if case.resume else model]
        argv += ["--epochs", "1", "--size", "32", "--batch-size", "2", "--device", "cpu"]
        return (
            argv
            + ["--time-budget", "0", "--augment", "none", "--json"]
            + (["--resume"] if case.resume else [])
        )
    if command == "predict":
        return ["predict", model, project / "images", "--out", tmp / "pred", "--json"]
    raise AssertionError(command)


def _slow(name: str, command: str):
    slow = (command == "train" and name in TRAINS) or (name, command) in SLOW
    marks = [pytest.mark.slow] if slow else []
    return pytest.param(name, command, marks=marks, id=f"{name}-{command}")


@pytest.mark.parametrize("name, command", [_slow(n, c) for n in CASES for c in COMMANDS])
def test_malformed_input(name, command, corpus, good_model, tmp_path, capsys):
    case = corpus(name)
    if case.kind == "source" and command != "import":
        if command == "train":
            pytest.skip("what an import wrote trains as any mask does (test_interop_cli)")
        imported = _cli(_argv("import", case, tmp_path, good_model), capsys)
        assert not imported.crash, imported.crash
    before = snapshot(case.project)
    outside = snapshot(tmp_path)
    if command == "open":
        result = _open(case, capsys)
    else:
        argv = _argv(command, case, tmp_path, good_model)
        if argv is None:
            pytest.skip(f"{command} takes no {name}")
        result = _cli(argv, capsys)
    assert not result.crash, result.crash
    assert result.code in (0, 2), result
    assert all(line.startswith("segapp: ") for line in result.err), result.err
    if result.code == 2:
        assert result.err or command == "open", result
    after = snapshot(case.project)
    lost = {k for k, v in before.items() if after.get(k) != v and k != "segapp.json"}
    assert not lost, lost
    if command != "import":
        assert after.get("segapp.json") == before.get("segapp.json")
    elif "segapp.json" in after:  # an import may have added classes, never broken the file
        Project.open(case.project) if result.code == 0 else None
    # nothing appeared beside the project but what the command was asked to write
    written = set(snapshot(tmp_path)) - set(outside)
    allowed = ("project/", "imported/", "exported/", "run/", "pred/", "model.onnx", "ckpt/")
    assert all(w.startswith(allowed) for w in written), sorted(written)[:5]
    _expected_codes(name, command, case, result)
    if command == "predict" and case.bad_stems:
        assert result.code == 2
        masks = {p.stem for p in (tmp_path / "pred").glob("*.png")}
        assert masks == {str(i) for i in range(3)}
    if case.model is not None:
        assert not (case.model.parent / "PWNED").exists()
        assert not (tmp_path / "ckpt" / "PWNED").exists()


def _expected_codes(name: str, command: str, case: Case, result: Outcome) -> None:
    """What each kind of input must come to, beyond 'no traceback'."""
    reads_project = command in ("open", "import", "export", "train")
    if case.kind == "meta" and reads_project:  # refused, but for keys a newer segapp wrote
        assert result.code == (0 if name == "segapp.json unknown keys" else 2), result
    if case.kind == "meta" and name == "segapp.json unknown keys" and command == "import":
        assert Project.open(case.project).extra["zz_future"] == {"a": 1}  # kept on rewrite
    if case.kind == "image" and command == "predict":
        assert result.code == (2 if case.bad_stems else 0), result  # bad images: reported
    if case.kind == "mask" and command == "predict":
        assert result.code == 0, result  # predict reads no mask
    if case.kind in ("image", "mask") and command == "train":  # the others train; it says which
        assert result.code == 0, result
        done = json.loads(result.out[-1])
        named = {Path(reason.split(": ")[0]).stem for reason in done["left_out"]}
        if case.kind == "image":  # the unreadable images, none when all are odd but fine
            assert named == case.bad_stems, done
        else:  # the pair whose mask is broken
            assert len(named) == 1, done
    if case.kind == "checkpoint" and command in ("train", "predict", "export"):
        assert result.code == (2 if not case.resume or command == "train" else 0), result
