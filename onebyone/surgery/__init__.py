"""Model surgery: low-rank factorisation of convs and linear layers to a budget, and FC → conv.

`factorize(model, budget, target=..., input_shape=...)` returns a factorised copy made of plain
layers and a per-layer report; `load_compressed(run_dir)` rebuilds a model written by
`onebyone compress`. `fc_to_conv(model, input_shape)` turns every linear layer into a conv, so a
classifier becomes a dense predictor; `load_fc2conv(dir)` rebuilds one written by
`onebyone convert fc2conv`.
"""

from onebyone.surgery.factorize import (
    FactorizeReport,
    LayerReport,
    factorize,
    factorized_structure,
    rebuild_structure,
)
from onebyone.surgery.fc_to_conv import (
    FcToConvResult,
    LayerConversion,
    convert_fc_layers,
    fc_to_conv,
    load_fc2conv,
)
from onebyone.surgery.runs import load_compressed

__all__ = [
    "FactorizeReport",
    "FcToConvResult",
    "LayerConversion",
    "LayerReport",
    "convert_fc_layers",
    "factorize",
    "factorized_structure",
    "fc_to_conv",
    "load_compressed",
    "load_fc2conv",
    "rebuild_structure",
]
