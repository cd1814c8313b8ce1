"""The layering of CONVENTIONS.md, read from the code's own imports (ast): a new back-import or cycle fails here.

providers → aggregator data domain → consent → aggregator.api / aggregator.webhooks / aggregator.ledger →
aggregator.config
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("providers", "aggregator", "consent")
UPPER_AGGREGATOR = (
    "aggregator.api",
    "aggregator.webhooks",
    "aggregator.ledger",
    "aggregator.ops",
    "aggregator.privacy",
    "aggregator.config",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, imported inside a function) for every project import outside ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            nested = in_function or (
                isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and child.name != "ready"
            )
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(filter(None, [*base, child.module or ""]))
                else:
                    target = child.module or ""
                found.append((target, in_function))
                for alias in child.names:  # "from . import selectors" names a module
                    found.append((f"{target}.{alias.name}", in_function))
            visit(child, nested)

    visit(tree, False)
    return [(name, inner) for name, inner in found if name.split(".")[0] in PACKAGES]


def _sources() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            out[_module_name(path)] = path
    return out


SOURCES = _sources()


def _resolve(name: str) -> str | None:
    while name and name not in SOURCES:
        name = name.rpartition(".")[0]
    return name or None


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, path in SOURCES.items():
        targets = {_resolve(name) for name, _ in _imports(path)}
        edges[module] = {t for t in targets if (t and t != module and not module.startswith(t + ".")) or False}
        edges[module] = {t for t in targets if t and t != module and t not in _parents(module)}
    return edges


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _layer_violations(where: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for module, path in SOURCES.items():
        if not (module == where or module.startswith(where + ".")):
            continue
        if where == "aggregator" and module.startswith(UPPER_AGGREGATOR):
            continue
        for name, _ in _imports(path):
            if name.startswith(forbidden):
                bad.append(f"{module} imports {name}")
    return bad


def test_providers_import_nothing_from_the_aggregator_or_consent():
    assert _layer_violations("providers", ("aggregator", "consent")) == []


def test_the_data_domain_imports_nothing_from_the_api_webhooks_project_or_consent():
    assert _layer_violations("aggregator", (*UPPER_AGGREGATOR, "consent")) == []


def test_consent_uses_only_the_data_domain_of_the_aggregator():
    assert _layer_violations("consent", UPPER_AGGREGATOR) == []


def test_no_import_cycle_between_files():
    edges = _edges()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node, [])
    assert cycles == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_project_import_inside_a_function_body(package):
    """Imports belong at the top of a module (``AppConfig.ready`` excepted, where Django wants them)."""
    inner = [
        f"{module} imports {name} in a function"
        for module, path in SOURCES.items()
        if module.split(".")[0] == package
        for name, in_function in _imports(path)
        if in_function
    ]
    assert inner == []
