"""Two forms of a block compared (C6, C8, C10): counts from the profiler, times from interleaved rounds.

In every round both forms are timed call by call, taking turns (analysis.timing.interleaved_seconds),
and the time ratio is taken round by round, so its interval (a t-interval of the log ratios)
carries the spread that the machine's load causes. On the CPU both forms run on one thread: with
two, each call waits for the slower thread, and when other work holds a core those stalls swamp
the convolutions (measured under load: C10's ratio fell from 3.35× on one thread to 1.1–1.7× on
two), so the ratio stops measuring the work the 1×1 reduction saves.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

import onebyone
from onebyone.report.config import ReportConfig
from onebyone.stats import Estimate, ratio_interval
from onebyone.timing import interleaved_seconds


def conv_weights(module: nn.Module, skip: tuple[str, ...] = ()) -> int:
    """Kernel weights of every conv (biases and BN excluded), as the articles count them."""
    return sum(
        m.weight.numel()
        for name, m in module.named_modules()
        if isinstance(m, nn.Conv2d) and not any(name.startswith(s) for s in skip)
    )


@contextlib.contextmanager
def timing_threads(device: torch.device) -> Iterator[None]:
    """One torch thread on the CPU while timing (restored after); nothing changes on a GPU."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class FormCost:
    """One form of a block: its counts from the profiler (at batch 1) and its measured time."""

    params: int
    macs: int
    channels: int  # output channels
    seconds: float  # median over the rounds of one call on a batch of `latency_batch`


@dataclass(frozen=True)
class PairCost:
    """Both forms of a block: `without` the 1×1 reduction and `with_` it, and their ratios."""

    without: FormCost
    with_: FormCost
    mac_ratio: float  # without ÷ with, exact
    time_ratio: Estimate  # without ÷ with, round by round; 95% interval over the rounds


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that clock readings cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _counts(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(parameters, MACs, output channels) of `module` at batch 1, from the profiler."""
    totals = onebyone.profile(module, (1, *input_shape)).totals
    return totals["params"], totals["macs"], totals["output_shape"][1]


def pair_cost(
    config: ReportConfig,
    device: torch.device,
    without: nn.Module,
    with_: nn.Module,
    input_shape: tuple[int, ...],
) -> PairCost:
    """Parameters, MACs and output channels of both forms; their time ratio (without ÷ with), timed on
    `device` with the config's latency batch, rounds and repeats."""
    counts = {"without": _counts(without, input_shape), "with": _counts(with_, input_shape)}
    x = torch.randn(config.latency_batch, *input_shape, device=device)
    modules = {key: module.to(device).eval() for key, module in (("without", without), ("with", with_))}
    with torch.inference_mode(), timing_threads(device):
        times = interleaved_seconds(
            {key: functools.partial(m, x) for key, m in modules.items()},
            rounds=config.latency_rounds,
            repeats=config.latency_repeats,
            sync=lambda: synchronize(device),
        )
    forms = {key: FormCost(*counts[key], seconds=sorted(times[key])[len(times[key]) // 2]) for key in modules}
    return PairCost(
        without=forms["without"],
        with_=forms["with"],
        mac_ratio=forms["without"].macs / forms["with"].macs,
        time_ratio=ratio_interval([a / b for a, b in zip(times["without"], times["with"], strict=True)]),
    )


def timing_caption(config: ReportConfig, device: torch.device) -> str:
    where = "one CPU thread" if device.type == "cpu" else device.type
    return (
        f"batch {config.latency_batch} on {where}, {config.latency_rounds} interleaved rounds of "
        f"{config.latency_repeats} calls each; interval: 95% over rounds"
    )
