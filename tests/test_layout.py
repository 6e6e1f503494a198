"""The shape of the package, computed from the source: rooms, layers, no import cycles, no leaks across rooms.

Every ``import`` / ``from ... import`` in ``yolo_ext/`` and ``patches/`` counts, at module level or inside a function
(a function-level import is still a dependency); only ``if TYPE_CHECKING:`` blocks are skipped.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from helpers import ROOT

PKG = ROOT / "yolo_ext"

# Rooms from the bottom up: a module may import its own room and rooms of a strictly lower layer only.
LAYERS = {
    "utils": 0, "ops": 0,
    "widerface": 1, "nn": 1, "losses": 1, "augment": 1,
    "assign": 2,
    "config": 3,
    "criterion": 4, "anchors": 4,
    "engine": 5,
    "viz": 6, "ablate": 6,
    "tune": 7,  # built on the study runner (ablate)
    "cli": 8,
    "facade": 9,  # yolo_ext/__init__.py, the alias modules at the root, every __main__.py (entry points)
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def is_package(name: str, mods: dict) -> bool:
    return mods.get(name, Path()).name == "__init__.py"


def _skip_type_checking(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    return tree


def imports_of(name: str, path: Path, mods: dict) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import of ``path``, relative ones resolved."""
    tree = _skip_type_checking(ast.parse(path.read_text()))
    top = {id(n) for n in tree.body}
    pkg = name if is_package(name, mods) else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub if sub in mods else target, node.lineno, id(node) in top))
    return out


def room(name: str) -> str:
    parts = name.split(".")
    if parts[-1] == "__main__" or len(parts) == 1 or (len(parts) == 2 and parts[1] not in LAYERS):
        return "facade"
    return parts[1]


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {n: {t for t, _, _ in imports_of(n, p, mods) if t in mods and t != n} for n, p in mods.items()}


def find_cycle(g: dict[str, set[str]]):
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(g):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_module_import_graph_is_acyclic():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_internal_import_resolves():
    """An import of a yolo_ext module that does not exist (e.g. left behind by a move) fails here, not at run time."""
    import importlib.util

    mods = modules()
    bad = []
    for n, p in mods.items():
        for t, line, _ in imports_of(n, p, mods):
            if t.split(".")[0] == "yolo_ext" and t not in mods:
                parent, _, attr = t.rpartition(".")
                if parent not in mods or not _defines(mods[parent], attr):
                    bad.append(f"{n}:{line} imports {t}")
    assert not bad, bad
    assert importlib.util.find_spec("yolo_ext_patches") is not None


def _defines(path: Path, name: str) -> bool:
    """Whether module ``path`` binds ``name`` at top level (def, class, assignment or import)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name.split(".")[0]) == name
                                                                   for a in node.names):
            return True
    return False


def test_every_module_is_in_a_known_room():
    unknown = sorted({n for n in modules() if room(n) not in LAYERS})
    assert not unknown, f"modules outside the rooms of LAYERS: {unknown}"


def test_imports_go_down_the_layers():
    bad = []
    for src, targets in graph().items():
        for t in targets:
            a, b = room(src), room(t)
            if a != b and LAYERS[b] >= LAYERS[a]:
                bad.append(f"{src} ({a}, layer {LAYERS[a]}) imports {t} ({b}, layer {LAYERS[b]})")
    assert not bad, "\n".join(sorted(bad))


def test_patches_import_nothing_from_yolo_ext():
    mods = modules()
    bad = [f"{p.name}:{line} imports {t}" for p in sorted((ROOT / "patches").glob("*.py"))
           for t, line, _ in imports_of("yolo_ext_patches." + p.stem, p, mods) if t.split(".")[0] == "yolo_ext"]
    assert not bad, bad


def test_widerface_never_imports_torch_or_ultralytics():
    mods = modules()
    bad = [f"{n}:{line} imports {t}" for n, p in mods.items() if room(n) == "widerface"
           for t, line, _ in imports_of(n, p, mods) if t.split(".")[0] in ("torch", "ultralytics", "torchvision")]
    assert not bad, bad


def test_no_private_name_crosses_a_room():
    """``from ..room.module import _private`` from another room, or ``._grids`` used outside the head."""
    mods = modules()
    bad = []
    for n, p in mods.items():
        tree = ast.parse(p.read_text())
        pkg = n if is_package(n, mods) else n.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                if target in mods and room(target) != room(n):
                    bad += [f"{n} imports {target}.{a.name}" for a in node.names if a.name.startswith("_")]
            if isinstance(node, ast.Attribute) and node.attr == "_grids" and n != "yolo_ext.nn.head":
                bad.append(f"{n}:{node.lineno} uses the head's private _grids")
    assert not bad, bad


def test_pyproject_lists_every_package():
    text = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"(yolo_ext(?:\.\w+)?)"', text.split("packages = [", 1)[1].split("]", 1)[0]))
    on_disk = {module_name(p.parent) for p in PKG.rglob("__init__.py")}
    assert listed == on_disk, f"pyproject packages {sorted(listed ^ on_disk)} differ from the folders"
    assert '"yolo_ext_patches" = "patches"' in text


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in PKG.rglob("*.py")))
def test_files_stay_small(path):
    assert len((ROOT / path).read_text().splitlines()) <= 400, f"{path}: over 400 lines, split it"


def test_old_import_path_still_works_with_a_warning():
    """``from yolo_ext.model import AnchorYOLO`` (0.1) and checkpoints pickled as ``yolo_ext.model.*`` keep working."""
    import importlib
    import pickle
    import sys
    import warnings

    import yolo_ext

    sys.modules.pop("yolo_ext.model", None)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        old = importlib.import_module("yolo_ext.model")
    assert any(issubclass(w.category, DeprecationWarning) and "yolo_ext.model" in str(w.message) for w in got)
    assert old.AnchorYOLO is yolo_ext.AnchorYOLO and old.AnchorDetectionModel is yolo_ext.AnchorDetectionModel
    assert pickle.loads(b"cyolo_ext.model\nAnchorDetectionModel\n.") is yolo_ext.AnchorDetectionModel
