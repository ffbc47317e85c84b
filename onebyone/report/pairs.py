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

import torch
from torch import nn

import onebyone
from onebyone.analysis.stats import ratio_interval
from onebyone.analysis.timing import interleaved_seconds


def conv_weights(module: nn.Module, skip: tuple[str, ...] = ()) -> int:
    """Kernel weights of every conv (biases and BN excluded), as the articles count them."""
    return sum(
        m.weight.numel()
        for name, m in module.named_modules()
        if isinstance(m, nn.Conv2d) and not any(name.startswith(s) for s in skip)
    )


@contextlib.contextmanager
def timing_threads(device: torch.device):
    """One torch thread on the CPU while timing (restored after); nothing changes on a GPU."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pair_cost(ctx, without: nn.Module, with_: nn.Module, input_shape) -> dict:
    """Parameters, MACs and output channels of both forms; their time ratio (without ÷ with)."""
    cost = {}
    for key, module in (("without", without), ("with", with_)):
        totals = onebyone.profile(module, (1, *input_shape)).totals
        cost[key] = {
            "params": totals["params"],
            "macs": totals["macs"],
            "channels": totals["output_shape"][1],
        }
    c = ctx.config
    x = torch.randn(c.latency_batch, *input_shape, device=ctx.device)
    modules = {key: module.to(ctx.device).eval() for key, module in (("without", without), ("with", with_))}
    with torch.inference_mode(), timing_threads(ctx.device):
        times = interleaved_seconds(
            {key: (lambda m=m: m(x)) for key, m in modules.items()},
            rounds=c.latency_rounds,
            repeats=c.latency_repeats,
            sync=ctx.sync,
        )
    for key in modules:
        cost[key]["seconds"] = sorted(times[key])[len(times[key]) // 2]
    cost["mac_ratio"] = cost["without"]["macs"] / cost["with"]["macs"]
    cost["time_ratio"] = ratio_interval([a / b for a, b in zip(times["without"], times["with"], strict=True)])
    return cost


def timing_caption(ctx) -> str:
    c = ctx.config
    where = "one CPU thread" if ctx.device.type == "cpu" else ctx.device.type
    return (
        f"batch {c.latency_batch} on {where}, {c.latency_rounds} interleaved rounds of "
        f"{c.latency_repeats} calls each; interval: 95% over rounds"
    )
