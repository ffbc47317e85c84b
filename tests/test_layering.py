"""The package's layers import only downwards: no module imports from a layer above it or from a peer.

Read from the source with `ast`, so imports inside functions (lazy imports) count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "onebyone"

# Bottom to top. Packages on one row are peers: neither may import the other.
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    (
        "torch_typing",
    ),  # typed forms of torch calls whose stubs say less (conv pairs, Module.to(memory_format=))
    # records: JSON records and their schemas; stats: intervals over seeds; timing: medians of runs
    ("files", "tables", "records", "progress", "stats", "timing"),
    ("layers",),
    ("models", "caffe"),  # caffe: Caffe prototxt/caffemodel import, on torch alone
    ("data", "memory"),  # memory: the peak of inference and of a training step, predicted and measured
    ("profiling",),  # the meta-tensor trace: per-layer cost, receptive fields, probes
    ("graph",),  # torch.fx: tracing, what each layer computes, functional heads lifted into modules
    ("train",),
    ("deploy",),  # below surgery: compression measures latency on deployed (frozen) copies
    ("surgery",),  # change a model: factorise, FC -> conv heads, fine-tune
    ("insight",),  # see inside a model (maps, CAM, boxes): above surgery, whose head rewrite CAM uses
    ("runs",),
    ("report",),
    ("commands",),
    ("cli",),
    ("__main__",),
]
# Known exceptions being removed, each with its reason; the test fails once an entry is no longer needed.
KNOWN: dict[str, str] = {}
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "onebyone" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.stem != "__init__")


def test_every_package_has_a_layer():
    tops = {(p.relative_to(PACKAGE).parts[0]).removesuffix(".py") for p in _modules()}
    assert tops <= set(LEVEL), f"place these in LAYERS: {sorted(tops - set(LEVEL))}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    wrong = []
    for line, module in _imports(path):
        target = _top(module)
        if target is None or target == own:
            continue
        if LEVEL[target] >= LEVEL[own]:
            where = "a peer" if LEVEL[target] == LEVEL[own] else "above"
            wrong.append(f"line {line}: {module} ({target} is {where})")
    name = str(path.relative_to(PACKAGE))
    if name in KNOWN:
        assert wrong, f"{name} imports only downwards now: remove it from KNOWN"
        pytest.xfail(KNOWN[name])
    assert not wrong, f"{name} imports up or sideways: {wrong}"
