"""The shape of the house, checked on every module's imports (module level and inside functions).

- The stack runs one way: functional <- cells <- layers <- models <- tasks <- serve <- cli; training/,
  data/ and config/ stand beside it (used by tasks and cli, importing nothing of the stack).
- files.py and extras.py are leaves: they import nothing of rnnkit.
- Inside tasks/, each application is a subpackage; no application imports another, and
  core/ (what they share) imports none of them.
- No relative imports; no import cycle between modules; nothing imports the benchmark scripts.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import rnnkit

STACK = ["functional", "cells", "layers", "models", "tasks", "serve", "cli"]
BESIDE = ["training", "data", "config"]
LEAVES = ["files", "extras"]
ROOT = Path(rnnkit.__file__).parent
BENCHMARK_MODULES = {p.stem for p in (ROOT.parent / "benchmarks").glob("*.py")} | {"benchmarks"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(tree: ast.Module) -> set[str]:
    """Every module an import statement names, anywhere in the file (``from a import b`` adds
    ``a`` and ``a.b``: b may be a module)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def relative_imports(tree: ast.Module) -> list[int]:
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0]


def level(module: str) -> str | None:
    """The top-level part of the package a module belongs to: ``rnnkit.layers.base`` -> ``layers``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "rnnkit" else None


def application(module: str) -> str | None:
    """``rnnkit.tasks.forecast.task`` -> ``forecast``; core and the tasks package itself -> None."""
    parts = module.split(".")
    if len(parts) > 2 and parts[:2] == ["rnnkit", "tasks"] and parts[2] != "core":
        return parts[2]
    return None


def allowed(importer: str, imported: str) -> bool:
    """May a module of part ``importer`` import one of part ``imported`` (parts as :func:`level` gives)?"""
    if imported is None or imported == importer:
        return True
    if importer in LEAVES:
        return False
    if importer in STACK:
        if imported in STACK:
            return STACK.index(imported) <= STACK.index(importer)
        if imported in BESIDE:
            return STACK.index(importer) >= STACK.index("tasks")  # the beside-modules serve tasks and cli
        return True
    if importer in BESIDE:
        return imported not in STACK
    return True


def rnnkit_modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def edges() -> dict[str, set[str]]:
    """Module -> the rnnkit modules it imports. ``from a import b`` is an edge to ``a.b`` when that
    is a module, else to ``a``; the parent packages Python initializes on the way are not edges."""
    modules = rnnkit_modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
        graph[name] = {m for m in targets if m in modules and m != name}
    return graph


def test_every_module_imports():
    for info in pkgutil.walk_packages([str(ROOT)], prefix="rnnkit."):
        importlib.import_module(info.name)


def test_imports_point_down_the_stack():
    violations = []
    for name, imports in edges().items():
        if name.count(".") == 0:  # rnnkit/__init__.py re-exports (lazily) whatever it likes
            continue
        for module in imports:
            if not allowed(level(name), level(module)):
                violations.append(f"{name} imports {module}")
    assert not violations, "imports against the layering:\n" + "\n".join(sorted(violations))


def test_applications_stand_side_by_side():
    violations = []
    for name, imports in edges().items():
        mine = application(name)
        in_core = name.startswith("rnnkit.tasks.core")
        for module in imports:
            theirs = application(module)
            if theirs is not None and (in_core or (mine is not None and theirs != mine)):
                violations.append(f"{name} imports {module}")
    assert not violations, "applications importing each other (or core importing one):\n" + "\n".join(violations)


def test_no_relative_imports():
    found = [f"{module_name(p)}:{line}" for p in ROOT.rglob("*.py") for line in relative_imports(parse(p))]
    assert not found, f"relative imports: {found}"


def test_nothing_imports_a_benchmark_script():
    found = [f"{name} imports {m}" for name, path in rnnkit_modules().items()
             for m in imported_modules(parse(path)) if m.split(".")[0] in BENCHMARK_MODULES]
    assert not found, found


def test_no_import_cycle():
    graph = edges()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_catches_what_it_should(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from rnnkit.layers import LSTM\nimport rnnkit.cli.main\ndef f():\n    from . import x\n")
    tree = parse(bad)
    assert {"rnnkit.layers", "rnnkit.cli.main"} <= imported_modules(tree)
    assert relative_imports(tree) == [4]
    assert not allowed("cells", level("rnnkit.layers"))
    assert not allowed("training", level("rnnkit.tasks"))
    assert not allowed("files", level("rnnkit.config"))
    assert application("rnnkit.tasks.forecast.task") == "forecast"
    assert application("rnnkit.tasks.core.run") is None


def test_the_runner_and_the_command_line_load_no_application_until_asked():
    """Importing the runner and the CLI (``rnnkit --version``) loads no application; a task
    name loads its own application only."""
    import subprocess
    import sys

    code = ("import sys, rnnkit.tasks.core.run as run, rnnkit.cli.main; "
            "before = sorted(m for m in sys.modules if m.startswith('rnnkit.tasks.') and '.core' not in m); "
            "run.registry.get('forecast'); "
            "after = sorted({m.split('.')[2] for m in sys.modules if m.startswith('rnnkit.tasks.') and '.core' not in m}); "
            "print(before, after)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] ['forecast']"
