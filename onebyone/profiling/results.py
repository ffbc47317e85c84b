"""What `profile` returns: plain, JSON-serialisable rows and totals (the renderers format them)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from onebyone.memory.results import MemoryResult

SCHEMA_VERSION = 1

CONVENTIONS = {
    "macs": "multiply-accumulates of conv/linear/matmul ops (bias excluded) = torch.utils.flop_counter / 2",
    "other_flops": "bias adds, normalisation, pooling, activations, elementwise ops and reductions; "
    "see onebyone/profiling/counters.py",
    "activation_bytes": "bytes of new tensors allocated by the layer's own ops (views excluded)",
    "peak_activation_bytes": "maximum bytes of live input+activation tensors during eager inference "
    "(without weights); `memory` has the predicted peaks of inference and training with their parts",
    "receptive_field": "per spatial axis: size and stride in input pixels, start = centre of output "
    "position 0 in input coordinates",
}


@dataclass
class LayerRow:
    """Cost of one module call's own ops (children excluded), or of a group of calls."""

    path: str
    call: int | None  # None: a module with parameters that the forward never called
    type: str
    depth: int
    output_shape: list[int] | None
    params: int = 0
    trainable_params: int = 0
    frozen_params: int = 0
    macs: int = 0
    other_flops: int = 0
    activation_bytes: int = 0
    pointwise_macs: int = 0
    pointwise_params: int = 0
    is_pointwise_conv: bool = False  # every MAC of this row (or group) is in 1×1 convs
    uncounted: dict[str, int] = field(default_factory=dict)
    receptive_field: dict | None = None
    parent: int | None = None

    @property
    def called(self) -> bool:
        return self.call is not None

    def to_dict(self) -> dict:
        data = dict(self.__dict__)  # `parent`: index of the calling row in `rows` (None for the root)
        data["uncounted"] = dict(self.uncounted)
        return data


_SUMMED = (
    "params",
    "trainable_params",
    "frozen_params",
    "macs",
    "other_flops",
    "activation_bytes",
    "pointwise_macs",
    "pointwise_params",
)


@dataclass
class ProfileResult:
    """A plain, JSON-serialisable report: rows of module calls in execution order, and totals."""

    model: str
    input_shapes: list[list[int]]
    dtype: str
    rows: list[LayerRow]
    peak_activation_bytes: int
    warnings: list[str] = field(default_factory=list)
    memory: MemoryResult | None = None  # set by estimate_memory's callers (`onebyone profile`)
    # The receptive.Field objects behind the rows' `receptive_field` dicts, by (path, call), with the
    # exact per-position extents the dicts leave out (not serialised).
    fields: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def totals(self) -> dict:
        """Sums over all rows (rows hold each call's own ops, so nothing is counted twice)."""
        totals: dict = {name: sum(getattr(r, name) for r in self.rows) for name in _SUMMED}
        uncounted: Counter = Counter()
        for row in self.rows:
            uncounted.update(row.uncounted)
        totals["uncounted"] = dict(uncounted)
        root = self.rows[0] if self.rows else None
        totals["output_shape"] = root.output_shape if root else None
        totals["receptive_field"] = root.receptive_field if root else None
        return totals

    def field_of(self, path: str = "", call: int = 0):
        """The receptive.Field of module `path`'s output (its `call`-th call); None if it has none."""
        return self.fields.get((path, call))

    def row(self, path: str, call: int = 0) -> LayerRow:
        """The row of module `path` (its `call`-th call)."""
        for row in self.rows:
            if row.path == path and row.call == call:
                return row
        raise KeyError(f"no call {call} of module {path!r} in this profile")

    def grouped(self, depth: int) -> list[LayerRow]:
        """Rows down to call depth `depth`, each deeper call folded into its ancestor at `depth`."""
        groups: list[LayerRow] = []
        where: dict[int, int] = {}  # row index -> index in groups
        by_path: dict[str, int] = {}
        for i, row in enumerate(self.rows):
            if row.called and row.depth > depth:
                ancestor = row.parent
                while ancestor is not None and self.rows[ancestor].depth > depth:
                    ancestor = self.rows[ancestor].parent
                assert ancestor is not None, "a call below the root has a parent at every depth"
                add_row(groups[where[ancestor]], row)
                continue
            if not row.called and row.depth > depth:
                prefix = ".".join(row.path.split(".")[:depth])
                if prefix in by_path:
                    add_row(groups[by_path[prefix]], row)
                    continue
            copy = LayerRow(**{**row.__dict__, "uncounted": dict(row.uncounted)})
            where[i] = len(groups)
            by_path.setdefault(row.path, len(groups))
            groups.append(copy)
        return groups

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "input_shapes": self.input_shapes,
            "dtype": self.dtype,
            "conventions": CONVENTIONS,
            "totals": self.totals,
            "peak_activation_bytes": self.peak_activation_bytes,
            "rows": [r.to_dict() for r in self.rows],
            "warnings": list(self.warnings),
            "memory": self.memory.to_dict() if self.memory is not None else None,
        }


def add_row(group: LayerRow, row: LayerRow) -> None:
    """Add `row`'s costs into `group` (a module and its children, or several calls of one module)."""
    for name in _SUMMED:
        setattr(group, name, getattr(group, name) + getattr(row, name))
    for op, n in row.uncounted.items():
        group.uncounted[op] = group.uncounted.get(op, 0) + n
    # A group is tagged 1×1 when all of its MACs come from 1×1 convs (e.g. a conv-BN-ReLU block).
    group.is_pointwise_conv = group.macs > 0 and group.pointwise_macs == group.macs


def format_count(value: float) -> str:
    """1234567 -> '1.23M' (used by renderers)."""
    if value == 0:
        return "0"
    exponent = min(int(math.log10(abs(value)) // 3), 4)
    if exponent <= 0:
        return f"{value:,.0f}"
    return f"{value / 10 ** (3 * exponent):.2f}{'KMGT'[exponent - 1]}"
