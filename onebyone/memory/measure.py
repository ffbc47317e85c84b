"""Measured peaks of a real CPU step, to check `estimate_memory` against.

The measure is the CPU allocator's own bookkeeping: with `torch.profiler.profile(profile_memory=
True)`, c10's CPU allocator reports every allocation and free (tensors, and oneDNN's buffers,
which PyTorch routes through the same allocator) with its size and time. The peak is the bytes
live at the start of the step (the tensors that exist then: weights, optimizer state, the batch)
plus the highest running sum of those reports during the step. The process's resident set is
read as well, so the allocator's figure can be checked against what the operating system saw.
The step is the same as the one simulated: zero_grad(set_to_none=True), forward under autocast
when asked, `loss_of` (cross-entropy), backward, optimizer.step(); the second step is measured,
when the optimizer state exists.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

import torch
from torch import nn

from onebyone.memory.estimate import MemorySetup, autocast_of, layout_of, loss_of
from onebyone.memory.optimizers import build_optimizer
from onebyone.torch_typing import to_memory_format


@dataclass(frozen=True)
class MeasuredPeak:
    peak_bytes: int  # live at the start + the allocator's highest running sum during the step
    start_bytes: int  # bytes of the tensors alive when the step began
    rss_rise_bytes: int  # peak resident set during the first step minus the resident set before it
    first_step_rise_bytes: int  # the allocator's highest running sum during that first step


def measure_training_step(model: nn.Module, input_shape, setup: MemorySetup) -> MeasuredPeak:
    """Peak bytes of one real training step on the CPU (the second; the first makes the state).

    With `setup.device == "cuda"` the optimizer steps as on CUDA (its foreach implementation)."""
    model.train()
    if setup.channels_last:
        to_memory_format(model, torch.channels_last)
    x = torch.randn(tuple(input_shape)).contiguous(memory_format=layout_of(setup, len(input_shape)))
    trainable = [p for p in model.parameters() if p.requires_grad]
    # the optimizer's implementation as on the device predicted for (foreach: CUDA's default)
    optimizer = build_optimizer(setup.optimizer, trainable, foreach=setup.device == "cuda")
    if optimizer is not None:  # the state, as after a first step, without running one
        for p in trainable:
            p.grad = torch.zeros_like(p)
        optimizer.step()

    step = training_step(model, x, optimizer, setup)
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
    rss_before = _rss_now()
    first_rise = _allocator_rise(step)
    rss_rise = _rss_peak() - rss_before
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
    else:
        model.zero_grad(set_to_none=True)
    start = _live_bytes(model, optimizer, x)
    rise = _allocator_rise(step)
    return MeasuredPeak(start + rise, start, rss_rise, first_rise)


def training_step(model: nn.Module, x: torch.Tensor, optimizer, setup: MemorySetup, device_type: str = "cpu"):
    """The step the estimate simulates, as a function: zero_grad(set_to_none=True), forward under
    autocast (on `device_type`) when asked, cross-entropy, backward, the optimizer's step."""

    def step() -> None:
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
        else:
            model.zero_grad(set_to_none=True)
        with autocast_of(setup, device_type):
            loss = loss_of(model(x))
        loss.backward()
        if optimizer is not None:
            optimizer.step()

    return step


def measure_inference(model: nn.Module, input_shape, setup: MemorySetup) -> MeasuredPeak:
    """Peak bytes of one real no-grad forward in eval mode on the CPU (the second of two)."""
    model.eval()
    if setup.channels_last:
        to_memory_format(model, torch.channels_last)
    x = torch.randn(tuple(input_shape)).contiguous(memory_format=layout_of(setup, len(input_shape)))

    def forward() -> None:
        with torch.no_grad(), autocast_of(setup):
            model(x)

    rss_before = _rss_now()
    first_rise = _allocator_rise(forward)
    rss_rise = _rss_peak() - rss_before
    start = _live_bytes(model, None, x)
    rise = _allocator_rise(forward)
    return MeasuredPeak(start + rise, start, rss_rise, first_rise)


def _allocator_rise(work) -> int:
    """The highest running sum of the CPU allocator's reports while `work()` runs."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        work()
    events = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    )
    running = highest = 0
    for _, nbytes in events:
        running += nbytes
        highest = max(highest, running)
    return highest


def _live_bytes(model: nn.Module, optimizer, x: torch.Tensor) -> int:
    tensors = [*model.parameters(), *model.buffers(), x]
    if optimizer is not None:
        tensors += [t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    storages = {t.untyped_storage()._cdata: t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _rss_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
