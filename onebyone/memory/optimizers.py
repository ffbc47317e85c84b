"""The optimizers a memory estimate knows by name, and the memory of their state and step.

torch.optim steps CPU parameters one at a time by default (the single-tensor implementation;
`foreach` is the default only on accelerators), and each step reads only its own parameter, its
gradient and its state. So the state of a model's optimizer is the sum over its parameters, and
the step's temporaries peak at the largest parameter's. Both are observed here with the real
optimizer class on fake tensors, once per distinct parameter shape, not guessed from formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from onebyone.memory.ledger import Ledger

# name -> (what it keeps, how to build it). The learning rates do not change the memory.
OPTIMIZERS: dict[str, tuple[str, Callable | None]] = {
    "none": ("no optimizer step: forward and backward only", None),
    "sgd": ("SGD without momentum (no state)", lambda p, f: torch.optim.SGD(p, lr=0.1, foreach=f)),
    "sgd-momentum": (
        "SGD with momentum 0.9 (one buffer per parameter)",
        lambda p, f: torch.optim.SGD(p, lr=0.1, momentum=0.9, foreach=f),
    ),
    "adam": ("Adam (two buffers per parameter)", lambda p, f: torch.optim.Adam(p, lr=1e-3, foreach=f)),
    "adamw": ("AdamW (two buffers per parameter)", lambda p, f: torch.optim.AdamW(p, lr=1e-3, foreach=f)),
}


@dataclass(frozen=True)
class OptimizerMemory:
    state_bytes: int  # kept between steps, for every trainable parameter
    step_peak_bytes: int  # the most the step itself allocates at once, above the state


def build_optimizer(
    name: str, params: Iterable[torch.Tensor], *, foreach: bool = False
) -> torch.optim.Optimizer | None:
    """The optimizer `name` over `params` (None for "none"), as the estimate simulates it;
    `foreach` picks the multi-tensor implementation (torch's default on CUDA)."""
    factory = OPTIMIZERS[name][1]
    return factory(list(params), foreach) if factory is not None else None


def optimizer_memory(name: str, params: list[torch.Tensor], *, foreach: bool = False) -> OptimizerMemory:
    """State and step peak of optimizer `name` over `params`; call inside a FakeTensorMode.

    With `foreach` (the multi-tensor step CUDA uses by default, whose temporaries are lists over
    all parameters at once) the real optimizer steps twice on copies of every parameter.
    Otherwise, per dtype, the real optimizer steps twice on a copy of the largest and of the smallest
    parameter. An elementwise optimizer's state is affine in the parameter's size (buffers like
    it, plus scalars such as Adam's step count), so those two give every parameter's state
    exactly; the second step's allocations, on the largest, are the step's peak.
    """
    if foreach:
        return OptimizerMemory(*_probe(name, params, foreach=True))
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in params:
        by_dtype.setdefault(p.dtype, []).append(p)
    state_total, step_peak = 0, 0
    for group in by_dtype.values():
        small, large = min(group, key=torch.Tensor.numel), max(group, key=torch.Tensor.numel)
        small_state, _ = _probe(name, [small])
        large_state, large_peak = _probe(name, [large])
        step_peak = max(step_peak, large_peak)
        if large.numel() == small.numel():
            state_total += len(group) * large_state
            continue
        per_element = (large_state - small_state) / (large.numel() - small.numel())
        fixed = small_state - per_element * small.numel()
        state_total += round(sum(fixed + per_element * p.numel() for p in group))
    return OptimizerMemory(state_bytes=state_total, step_peak_bytes=step_peak)


def _probe(name: str, like: list[torch.Tensor], *, foreach: bool = False) -> tuple[int, int]:
    """(state bytes, peak bytes allocated by a later step) of optimizer `name` on copies of `like`."""
    probes = []
    for tensor in like:
        probe = torch.nn.Parameter(torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype))
        probe.grad = torch.zeros_like(probe)
        probes.append(probe)
    optimizer = build_optimizer(name, probes, foreach=foreach)
    if optimizer is None:  # "none": no optimizer, so no state and no step
        return 0, 0
    optimizer.step()  # the first step makes the state
    kept = {t.untyped_storage()._cdata: t.untyped_storage().nbytes() for t in _state_tensors(optimizer)}
    ledger = Ledger()
    with ledger:
        optimizer.step()  # a later step, as in training: what it allocates on top of the state
    return sum(kept.values()), ledger.peak


def _state_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [t for state in optimizer.state.values() for t in state.values() if isinstance(t, torch.Tensor)]
