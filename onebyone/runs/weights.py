"""The one place a run folder's weights are loaded: checked against the model before they go in.

`load_state_dict` alone casts a float16 or float64 tensor to the parameter's dtype, an int32 tensor
to float, and takes NaN and Inf as they are, so a damaged model.safetensors evaluated at chance (10%
on Fashion-MNIST) with exit code 0, or printed bare NaN. Here every tensor must have the name, the
dtype and the shape the model has, every floating-point value must be finite and every batch-norm
running variance ≥ 0; anything else is one line naming the file and the first tensors at fault.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.train.checkpoint import load_weights, weight_problems


def load_state(model: nn.Module, weights: Path, where: Path, what: str = "recorded model") -> nn.Module:
    """Load a safetensors file into `model` (eval mode) after checking every tensor (module docstring)."""
    state = load_weights(weights)
    problem = weight_problems(model.state_dict(), state)
    if problem:
        raise OneByOneError(f"{str(weights)!r}: weights do not fit the {what}: {problem}")
    model.load_state_dict(state)
    return model.eval()
