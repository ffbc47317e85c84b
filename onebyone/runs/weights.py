"""The one place a run folder's weights are loaded: checked against the model before they go in.

`load_state_dict` alone casts a float16 or float64 tensor to the parameter's dtype, an int32 tensor
to float, and takes NaN and Inf as they are, so a damaged model.safetensors evaluated at chance (10%
on Fashion-MNIST) with exit code 0, or printed bare NaN. Here every tensor must have the name, the
dtype and the shape the model has, every floating-point value must be finite and every batch-norm
running variance ≥ 0; anything else is one line naming the file and the first tensors at fault.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.train.checkpoint import load_weights


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _dims(tensor: Tensor) -> str:
    return "×".join(map(str, tensor.shape)) or "a scalar"


def _dtype(tensor: Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def weight_problems(expected: dict[str, Tensor], found: dict[str, Tensor]) -> str | None:
    """What is wrong with the tensors `found` for a model whose state dict is `expected`, or None."""
    missing = [name for name in expected if name not in found]
    if missing:
        return f"it lacks {_names(missing)}"
    unexpected = [name for name in found if name not in expected]
    if unexpected:
        return f"it holds {_names(unexpected)}, which the model does not have"
    for name, want in expected.items():
        got = found[name]
        if got.dtype != want.dtype:
            return f"{name!r} is {_dtype(got)}; the model takes {_dtype(want)}"
        if got.shape != want.shape:
            return f"{name!r} has shape {_dims(got)}; the model takes {_dims(want)}"
    bad = [name for name, t in found.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        return f"{_names(bad)} hold{'s' if len(bad) == 1 else ''} NaN or Inf"
    negative = [n for n, t in found.items() if n.endswith("running_var") and bool((t < 0).any())]
    if negative:
        return f"the batch-norm variance(s) {_names(negative)} hold negative values"
    return None


def load_state(model: nn.Module, weights: Path, where: Path, what: str = "recorded model") -> nn.Module:
    """Load a safetensors file into `model` (eval mode) after checking every tensor (module docstring)."""
    state = load_weights(weights)
    problem = weight_problems(model.state_dict(), state)
    if problem:
        raise OneByOneError(f"{str(weights)!r}: weights do not fit the {what}: {problem}")
    model.load_state_dict(state)
    return model.eval()
