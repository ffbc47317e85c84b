"""No two modules of the package import each other, directly or around a circle.

Read from the source with `ast`, imports inside functions included: a lazy import that closes a circle
is still a circle, only one that Python happens to survive. An edge runs from a module to each module
it names: `from pkg import name` names `pkg.name` when that is a module, otherwise `pkg` itself (its
`__init__`). A package's `__init__` implied by importing one of its modules is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "onebyone"


def _name(path: Path) -> str:
    parts = ("onebyone", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# Circles being removed, each a list of its modules; the test fails once one is gone and still listed.
KNOWN: list[list[str]] = []

MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _edges(module: str, path: Path) -> set[str]:
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, path.stem == "__init__")
            for alias in node.names:
                child = f"{source}.{alias.name}"
                targets.add(child if child in MODULES else source)
    return {t for t in targets if t in MODULES and t != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
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
            if child is None:
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
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_around_a_circle():
    graph = {module: _edges(module, path) for module, path in MODULES.items()}
    found = _cycles(graph)
    assert [c for c in found if c not in KNOWN] == []
    assert [c for c in KNOWN if c not in found] == [], "a known circle is gone: remove it from KNOWN"
