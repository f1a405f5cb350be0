"""``segapp import`` / ``segapp export`` as a user runs them: a summary, one line per
problem on stderr, exit code 2, no traceback, nothing saved lost."""

from __future__ import annotations

import json

import pytest
from interop_helpers import labels_by_stem, make_project

from segapp.cli.main import main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_export_then_import_on_the_command_line(tmp_path, capsys):
    make_project(tmp_path / "p")
    code, out, _ = _run(capsys, "export", "coco", tmp_path / "p", tmp_path / "coco", "--polygons")
    assert code == 0 and "3 images with their masks" in out
    src = tmp_path / "coco" / "annotations.json"
    code, out, _ = _run(capsys, "import", "coco", src, tmp_path / "q")
    assert code == 0 and "3 images added, 3 masks written" in out
    code, out, _ = _run(capsys, "import", "coco", src, tmp_path / "q")  # again: nothing new
    assert code == 0 and "0 images added, 0 masks written" in out
    before, after = labels_by_stem(tmp_path / "p"), labels_by_stem(tmp_path / "q")
    assert all((before[k] == after[k]).all() for k in before)


def test_a_bad_file_among_good_ones_is_skipped_with_exit_code_2(tmp_path, capsys):
    make_project(tmp_path / "p")
    assert _run(capsys, "export", "labelme", tmp_path / "p", tmp_path / "lm")[0] == 0
    (tmp_path / "lm" / "zzz.json").write_text("{truncated")
    code, out, err = _run(capsys, "import", "labelme", tmp_path / "lm", tmp_path / "q")
    assert code == 2 and "3 images added" in out
    assert "segapp: skipped zzz.json: not valid JSON" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["import", "voc", "{tmp}/nowhere", "{tmp}/q"], "no such file or folder"),
        (["import", "voc", "{tmp}/p", "{tmp}/q", "--mask-suffix", "_m"], "applies to folders only"),
        (["import", "voc", "{tmp}/p", "{tmp}/q"], "not a VOC folder"),
        (["import", "folders", "{tmp}/p", "{tmp}/q", "--labels", "{tmp}/x.txt"], "no such file"),
        (["export", "voc", "{tmp}/p", "{tmp}/p"], "not an empty folder"),
        (["export", "voc", "{tmp}/p", "{tmp}/out", "--polygons"], "applies to coco only"),
        (["export", "yolo", "{tmp}/nowhere", "{tmp}/out"], "folder not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    make_project(tmp_path / "p", n=1)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _, err = _run(capsys, *(a.format(tmp=tmp_path) for a in args))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing made


def test_export_without_corrected_masks_says_so(tmp_path, capsys):
    project = make_project(tmp_path / "p", n=0)
    assert not project.labeled()
    code, _, err = _run(capsys, "export", "folders", tmp_path / "p", tmp_path / "out")
    assert code == 2 and "no corrected masks" in err and not (tmp_path / "out").exists()


def test_exported_coco_is_plain_json(tmp_path, capsys):
    make_project(tmp_path / "p", n=1)
    _run(capsys, "export", "coco", tmp_path / "p", tmp_path / "c")
    doc = json.loads((tmp_path / "c" / "annotations.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["cat", "dog", "__ignore__"]
    assert {type(a["segmentation"]["counts"]) for a in doc["annotations"]} == {str}
    assert (tmp_path / "c" / doc["images"][0]["file_name"]).is_file()
