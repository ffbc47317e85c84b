"""How large a zoo model may be: found on the meta device, before any memory is taken.

A width of 1e6 asks for petabytes of weights and 10⁶ layers for an hour of Python; either used to
reach the real build (or the profiler) and fail late, or not at all. `check_model_size` builds the
model on the meta device (shapes only: no memory, no initialisation cost) and refuses one with more
than MAX_PARAMETERS parameters and buffers. The meta build itself is bounded by each family's
structural ranges (e.g. `nin.MAX_POINTWISE_LAYERS`), checked by its builder before any module is made.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from onebyone.errors import OneByOneError

MAX_PARAMETERS = 2_000_000_000  # 8 GB of float32 weights; the zoo's largest defaults have 61 M


def meta_size(builder: Callable[..., nn.Module], options: dict[str, object]) -> int:
    """Parameters and buffers (elements) of `builder(**options)`, built on the meta device."""
    if options.get("pretrained"):  # published weights do not change the size; do not fetch them
        options = {**options, "pretrained": False}
    with torch.device("meta"):
        model = builder(**options)
    return sum(t.numel() for t in (*model.parameters(), *model.buffers()))


def check_model_size(name: str, builder: Callable[..., nn.Module], options: dict[str, object]) -> None:
    """Raise OneByOneError when the model `name` with `options` is too large to build here."""
    described = " ".join(f"{k}={v!r}" for k, v in options.items()) or "its defaults"
    try:
        size = meta_size(builder, options)
    except (RuntimeError, OverflowError, MemoryError) as exc:  # sizes past what torch can even shape
        raise OneByOneError(
            f"model {name!r} with {described} cannot be built at that size ({type(exc).__name__}: {exc})"
        ) from None
    if size > MAX_PARAMETERS:
        raise OneByOneError(
            f"model {name!r} with {described} would have {size:,} parameters and buffers "
            f"({4 * size / 2**30:,.1f} GiB in float32); onebyone builds at most {MAX_PARAMETERS:,}"
        )
