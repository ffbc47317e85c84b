"""Model surgery: low-rank factorisation of convs and linear layers to a budget."""

from onebyone.surgery.factorize import (
    FactorizeReport,
    LayerReport,
    factorize,
    factorized_structure,
    rebuild_structure,
)

__all__ = ["FactorizeReport", "LayerReport", "factorize", "factorized_structure", "rebuild_structure"]
