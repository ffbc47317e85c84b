"""Model surgery: low-rank factorisation of convs and linear layers to a budget, and FC → conv.

`factorize(model, budget, target=..., input_shape=...)` returns a factorised copy made of plain
layers and a per-layer report; `compress` wraps it with latency and accuracy measurements.
`fc_to_conv(model, input_shape)` turns every linear layer into a conv, so a classifier becomes a
dense predictor. The folders `onebyone compress` and `onebyone convert fc2conv` write are opened with
`onebyone.runs.open_run`.
"""

from onebyone.surgery.compress import CompressResult, Latency, compress
from onebyone.surgery.factorize import (
    FactorizeResult,
    LayerFactorization,
    factorize,
    factorized_structure,
    rebuild_structure,
)
from onebyone.surgery.fc_to_conv import (
    FcToConvResult,
    LayerConversion,
    convert_fc_layers,
    fc_to_conv,
)

__all__ = [
    "CompressResult",
    "FactorizeResult",
    "FcToConvResult",
    "LayerConversion",
    "Latency",
    "LayerFactorization",
    "compress",
    "convert_fc_layers",
    "factorize",
    "factorized_structure",
    "fc_to_conv",
    "rebuild_structure",
]
