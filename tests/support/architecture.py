"""Read the package's source as data: its import graph, its raise statements, its sizes.

Used by tests/test_architecture.py; each checker takes plain data (a graph, a list of
modules), so the checkers themselves are tested on made-up inputs.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "airflow_provider_monetate"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
COMPAT = f"{PACKAGE}._compat"

# What may import what. A module's *kind* is its first package below the root (``hooks``,
# ``loading``, ...) or, for a top-level module, its own name (``storage``, ``exceptions``).
AIRFLOW_CLASSES = ("hooks", "operators", "sensors", "triggers")
PURE = ("http", "loading", "monetate", "acquia_cdp", "storage", "exceptions")
FORBIDDEN = {
    "hooks": {"operators", "sensors", "triggers"},
    "sensors": {"operators"},
    "triggers": {"operators", "sensors"},
    **{kind: set(AIRFLOW_CLASSES) for kind in PURE},
}


@dataclass
class Module:
    name: str  # dotted
    path: Path
    tree: ast.Module
    lines: int
    eager: set[str] = field(default_factory=set)  # imported when the module loads
    lazy: set[str] = field(default_factory=set)  # imported inside functions or under TYPE_CHECKING


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def kind(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def load_modules(root: Path = ROOT) -> dict[str, Module]:
    """Every module of the package, with the provider modules each imports."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        module = Module(module_name(path, root), path, ast.parse(text), text.count("\n") + 1)
        modules[module.name] = module
    for module in modules.values():
        _collect_imports(module, set(modules))
    return modules


def _collect_imports(module: Module, known: set[str]) -> None:
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]

    def visit(nodes: list[ast.stmt], lazy: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.body, True)
                visit(node.orelse, lazy)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                (module.lazy if lazy else module.eager).update(_targets(node, package, known))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(node.body, True)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, lazy)
            else:
                for child in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, child, []) or [], lazy)

    visit(module.tree.body, False)


def _targets(node: ast.Import | ast.ImportFrom, package: str, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in known else base


def layering_violations(imports: dict[str, set[str]]) -> list[str]:
    """``importer -> imported`` edges the layering forbids.

    :param imports: module -> every module it imports (eagerly or lazily).
    """
    found = []
    for importer, targets in sorted(imports.items()):
        if not importer.startswith(PACKAGE + "."):
            continue
        for target in sorted(targets):
            own = kind(importer)
            if target.startswith(PACKAGE + ".") and kind(target) in FORBIDDEN.get(own, ()):
                found.append(f"{importer} -> {target} ({own} must not import {kind(target)})")
            elif (target == "airflow" or target.startswith("airflow.")) and importer != COMPAT:
                found.append(f"{importer} -> {target} (only {COMPAT} imports Airflow)")
    return found


def import_cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Cycles among eager imports inside the package.

    Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``, so those count as
    edges too, except a module's own enclosing packages (Python has already started those).
    """
    graph: dict[str, set[str]] = {}
    for importer, targets in imports.items():
        ancestors = {importer.rsplit(".", n)[0] for n in range(1, importer.count(".") + 1)}
        edges = set()
        for target in targets:
            if not target.startswith(PACKAGE + "."):
                continue
            parts = target.split(".")
            edges.update(".".join(parts[:n]) for n in range(2, len(parts) + 1))
        graph[importer] = {t for t in edges - ancestors - {importer} if t in imports}
    cycles, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return cycles


_BUILTIN_ERRORS = {name for name, value in vars(builtins).items()
                   if isinstance(value, type) and issubclass(value, BaseException)}


def builtin_raises(module: Module) -> list[str]:
    """``raise ValueError(...)``-style statements: errors outside the provider's tree."""
    calls = [node for node in ast.walk(module.tree) if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)]
    return [f"{module.name}:{node.lineno} raises {node.exc.func.id}" for node in calls
            if isinstance(node.exc.func, ast.Name) and node.exc.func.id in _BUILTIN_ERRORS]


def error_classes(module: Module) -> list[str]:
    """Classes that look like errors (``...Error`` or deriving from a built-in exception)."""
    found = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(base) for base in node.bases}
            if node.name.endswith("Error") or bases & _BUILTIN_ERRORS:
                found.append(f"{module.name}:{node.lineno} {node.name}")
    return found


def long_functions(module: Module, limit: int) -> list[str]:
    """Functions whose body (docstring excluded) is longer than ``limit`` lines."""
    found = []
    for node in ast.walk(module.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                body = body[1:] or body
            length = body[-1].end_lineno - body[0].lineno + 1
            if length > limit:
                found.append(f"{module.name}.{node.name} ({length} lines)")
    return found


def is_public(name: str) -> bool:
    """A module users may import: no part of its dotted name starts with ``_``."""
    return not any(part.startswith("_") for part in name.split("."))


def declares_all(module: Module) -> bool:
    """Whether the module assigns ``__all__`` at its top level."""
    targets = [t for node in module.tree.body if isinstance(node, ast.Assign) for t in node.targets]
    targets += [node.target for node in module.tree.body if isinstance(node, ast.AnnAssign)]
    return any(getattr(target, "id", None) == "__all__" for target in targets)
