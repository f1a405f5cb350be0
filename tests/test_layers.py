"""Arrows point one way: ui -> ml -> core. core and ml never load Qt; core never loads torch."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(imports: str) -> set[str]:
    code = f"import sys; {imports}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_and_ml_load_no_qt():
    mods = _loaded_after(
        "import segapp.core.project, segapp.core.document, segapp.core.tools, segapp.core.sheet, "
        "segapp.ml.train, segapp.ml.infer, segapp.ml.evaluate, segapp.ml.pretrained, segapp.cli.commands"
    )
    assert not {m for m in mods if m.startswith(("PySide6", "pyqtgraph", "shiboken6"))}


def test_core_loads_no_torch():
    mods = _loaded_after("import segapp.core.project, segapp.core.document, segapp.core.tools")
    assert "torch" not in mods


def test_cli_entry_loads_no_torch_before_a_command_needs_it():
    mods = _loaded_after("import segapp.cli.main")
    assert "torch" not in mods and "segmentation_models_pytorch" not in mods
