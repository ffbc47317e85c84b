"""Model surgery: low-rank factorisation of convs and linear layers to a budget.

`factorize(model, budget, target=..., input_shape=...)` returns a factorised copy made of plain
layers and a per-layer report; `load_compressed(run_dir)` rebuilds a model written by
`onebyone compress`.
"""

from onebyone.surgery.factorize import (
    FactorizeReport,
    LayerReport,
    factorize,
    factorized_structure,
    rebuild_structure,
)
from onebyone.surgery.runs import load_compressed

__all__ = [
    "FactorizeReport",
    "LayerReport",
    "factorize",
    "factorized_structure",
    "load_compressed",
    "rebuild_structure",
]
