"""The wheel carries resources/ and models/, and segapp runs from a non-editable install.

Builds the wheel of this tree offline (``pip wheel --no-build-isolation``), installs it
without dependencies into a fresh virtual environment that borrows this one's packages
(torch, Qt … through a .pth file, no download), and runs ``segapp demo --headless`` there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("resources", "models")
DATA = ".data/data/share/segapp/"


def _run(argv: list, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{argv}:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of this tree (the build writes build/ and *.egg-info beside it)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("segapp", *SHIPPED):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    _run([*pip, "--no-index", "-w", dist, src])
    return next(dist.glob("segapp-*.whl"))


def test_the_wheel_holds_every_file_of_resources_and_models(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.split(DATA, 1)[1] for n in names if DATA in n}
    on_disk = {
        p.relative_to(ROOT).as_posix()
        for folder in SHIPPED
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert "models/demo-model/model.safetensors" in on_disk
    assert on_disk <= shipped, f"left out of the wheel: {sorted(on_disk - shipped)}"
    assert not [n for n in names if n.startswith(("resources/", "models/"))]  # no top level


def test_segapp_demo_runs_from_an_installed_wheel(wheel, tmp_path):
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    paths = _run([python, "-c", "import sysconfig as s; print(s.get_path('purelib'))"])
    site = Path(paths.stdout.strip())
    borrowed = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "_borrowed.pth").write_text("\n".join(sorted(borrowed)) + "\n")  # appended last
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps"]
    _run([*pip, "--no-index", wheel])

    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    clean["SEGAPP_DATA"] = str(tmp_path / "data")
    where = _run(
        [python, "-c", "import segapp, segapp.shipped as s; print(segapp.__file__, s.model())"],
        cwd=tmp_path,
        env=clean,
    ).stdout.split()
    assert all(Path(p).resolve().is_relative_to(env.resolve()) for p in where), where

    scripts = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]
        ).stdout.strip()
    )
    out = _run([scripts / "segapp", "demo", "--headless"], cwd=tmp_path, env=clean).stdout
    model_line = next(line for line in out.splitlines() if line.startswith("model: "))
    assert str(env.resolve()) in model_line, model_line
    scores = [float(line.split()[-1]) for line in out.splitlines() if "IoU vs watershed" in line]
    assert len(scores) == 8 and min(scores) > 0.9, out

    usage = _run([python, "-m", "segapp", "--help"], cwd=tmp_path, env=clean).stdout
    assert usage.startswith("usage: segapp")
