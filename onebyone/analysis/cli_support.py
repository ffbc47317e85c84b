"""Shared by `onebyone profile` and `onebyone compare`: turn a model spec and input options into
(model, input shape, label). Kept out of `onebyone/commands/` so both commands import one thing."""

from __future__ import annotations

import shlex

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.loading import load_model, model_input_size, parse_input_shape, parse_overrides


def parse_full_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224' (the full input shape including the batch) -> (1, 3, 224, 224)."""
    parts = text.replace("x", ",").replace("×", ",").split(",")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) < 2 or any(d <= 0 for d in dims):
        raise OneByOneError(
            f"bad input shape {text!r}; expected N,C,... with positive sizes, e.g. 1,3,224,224"
        )
    return dims


def build(spec: str, overrides: list[str]) -> nn.Module:
    """The model for `spec`; an exception while building it becomes one OneByOneError line."""
    parsed = parse_overrides(overrides)
    try:
        return load_model(spec, parsed)
    except OneByOneError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise OneByOneError(f"building {spec} failed: {type(exc).__name__}: {first}") from exc


def input_shape_for(
    spec: str, model: nn.Module, input_text: str | None, shape_text: str | None
) -> tuple[int, ...]:
    """Full input shape (batch first) from --input CxHxW, --input-shape N,C,H,W, or the zoo default."""
    if input_text and shape_text:
        raise OneByOneError("give --input or --input-shape, not both")
    if shape_text:
        return parse_full_shape(shape_text)
    if input_text:
        dims = parse_input_shape(input_text)
        return dims if len(dims) == 4 else (1, *dims)
    size = model_input_size(spec, model)
    if size is None:
        raise OneByOneError(f"{spec}: give the input size with --input CxHxW or --input-shape N,C,H,W")
    return (1, *size)


def split_variant(text: str) -> tuple[str, list[str]]:
    """'googlenet naive=true' or 'googlenet --set naive=true' -> ('googlenet', ['naive=true'])."""
    tokens = shlex.split(text)
    if not tokens:
        raise OneByOneError("empty model spec")
    overrides = [t for t in tokens[1:] if t != "--set"]
    for token in overrides:
        if "=" not in token:
            raise OneByOneError(f"bad variant {text!r}; expected MODEL [key=value ...]")
    return tokens[0], overrides
