"""interop -> core (and ml only for the ONNX export): importing or exporting data loads
neither PyTorch nor Qt, and nothing in core or ml loads interop."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(imports: str) -> set[str]:
    code = f"import sys; {imports}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_formats_load_no_torch_and_no_qt():
    mods = _loaded_after(
        "import segapp.interop.sink, segapp.interop.labelme, segapp.interop.coco, "
        "segapp.interop.voc, segapp.interop.yolo, segapp.interop.folders, segapp.cli.interop"
    )
    assert "torch" not in mods
    assert not {m for m in mods if m.startswith(("PySide6", "shiboken6"))}


def test_core_and_ml_do_not_load_interop():
    mods = _loaded_after("import segapp.core.project, segapp.ml.train, segapp.ml.infer")
    assert not {m for m in mods if m.startswith("segapp.interop")}
