"""Arrows point one way: ui -> ml -> core. core and ml never load Qt; core never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path


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


def test_interop_loads_no_torch_and_no_qt_and_core_ml_do_not_load_it():
    """interop -> core (ml only for the ONNX export): importing data needs no torch."""
    mods = _loaded_after(
        "import segapp.interop.sink, segapp.interop.labelme, segapp.interop.coco, "
        "segapp.interop.voc, segapp.interop.yolo, segapp.interop.folders, segapp.cli.interop"
    )
    assert "torch" not in mods and not {m for m in mods if m.startswith(("PySide6", "shiboken6"))}
    mods = _loaded_after("import segapp.core.project, segapp.ml.train, segapp.ml.infer")
    assert not {m for m in mods if m.startswith("segapp.interop")}


# ---------------------------------------------------------------- static: the import graph
# Every ``import`` in segapp counts, at module level, inside functions (lazy) and under
# ``if TYPE_CHECKING``: a circle that only a lazy import keeps from failing is still a circle.

PACKAGE = Path(__file__).resolve().parents[1] / "segapp"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _import_graph() -> dict[str, set[str]]:
    """Module -> the segapp modules it imports (``from pkg import mod`` counts as pkg.mod)."""
    mods = _modules()
    graph = {}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                for a in node.names:
                    deps.add(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = _import_graph()
    assert "segapp.ui.main_window" in graph and "segapp.ml.registry" in graph
    cycles = _cycles(graph)
    report = [
        " <-> ".join(c) + ": " + "; ".join(f"{m} imports {sorted(graph[m] & set(c))}" for m in c)
        for c in cycles
    ]
    assert not cycles, "import cycles:\n" + "\n".join(report)


def test_arrows_point_one_way_even_for_lazy_imports():
    """core imports only core; ml only core and ml; the ui rooms never import the window shell."""
    allowed = {
        "segapp.core.": ("segapp.core",),
        "segapp.ml.": ("segapp.core", "segapp.ml"),
        "segapp.ui.canvas.": ("segapp.core", "segapp.ui.canvas"),
    }
    rooms = ("segapp.ui.canvas.", "segapp.ui.labeling.", "segapp.ui.training.")
    shell = {"segapp.ui.main_window", "segapp.ui.actions", "segapp.ui.app", "segapp.ui.welcome"}
    wrong = []
    for module, deps in sorted(_import_graph().items()):
        for prefix, ok in allowed.items():
            if module.startswith(prefix):
                wrong += [f"{module} -> {d}" for d in sorted(deps) if not d.startswith(ok)]
        if module.startswith(rooms):
            wrong += [f"{module} -> {d}" for d in sorted(deps & shell)]
    assert not wrong, "imports against the arrows:\n" + "\n".join(wrong)
