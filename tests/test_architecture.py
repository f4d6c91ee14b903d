"""Imports run one way: functional <- cells <- layers <- models <- tasks <- cli.

training/, data/ and config/ stand beside the stack: tasks and cli use them, and they import
nothing from it. The package root (rnnkit/__init__.py) may re-export anything.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import rnnkit

STACK = ["functional", "cells", "layers", "models", "tasks", "cli"]
BESIDE = ["training", "data", "config"]
ROOT = Path(rnnkit.__file__).parent


def subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "rnnkit" else None


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.startswith("rnnkit")}


def allowed(importer: str, imported: str) -> bool:
    if imported == importer or imported is None:
        return True
    if importer in STACK:
        if imported in STACK:
            return STACK.index(imported) <= STACK.index(importer)
        return STACK.index(importer) >= STACK.index("tasks")  # the beside-modules serve tasks and cli
    if importer in BESIDE:
        return imported not in STACK
    return True


def test_every_module_imports():
    for info in pkgutil.walk_packages([str(ROOT)], prefix="rnnkit."):
        importlib.import_module(info.name)


def test_imports_point_down_the_stack():
    violations = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if len(rel.parts) == 1:  # rnnkit/__init__.py and other top-level modules
            continue
        importer = rel.parts[0]
        for module in imported_modules(path):
            imported = subpackage(module)
            if imported is not None and not allowed(importer, imported):
                violations.append(f"{rel} imports {module}")
    assert not violations, "upward imports:\n" + "\n".join(violations)


def test_the_checker_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from rnnkit.layers import LSTM\nimport rnnkit.cli.main\n")
    modules = imported_modules(bad)
    assert not allowed("cells", subpackage("rnnkit.layers"))
    assert not allowed("training", subpackage("rnnkit.tasks"))
    assert "rnnkit.layers" in modules and "rnnkit.cli.main" in modules
