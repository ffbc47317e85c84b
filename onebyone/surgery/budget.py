"""Ranks for a factorisation: explicit ones checked against each layer, or chosen to meet a budget.

A budget is a fraction of the factorisable layers' MACs, parameters or measured latency. Each
layer's options come from `ranks.rank_path` (costed in MACs or parameters, or re-costed in seconds
measured on this machine for target "latency"); `ranks.allocate` picks one option per layer.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.surgery import decompose
from onebyone.surgery.ranks import LayerGeometry, Option, allocate, rank_path
from onebyone.timing import median_seconds


def explicit_ranks(ranks: dict, geometries: dict[str, LayerGeometry]) -> dict[str, Option]:
    chosen = {}
    for name, value in ranks.items():
        if name not in geometries:
            raise OneByOneError(f"no factorisable layer {name!r}; factorisable: {', '.join(geometries)}")
        geometry = geometries[name]
        value = (value,) if isinstance(value, int) else tuple(value)
        limits = (
            (geometry.in_channels, geometry.out_channels)
            if geometry.kind == "conv"
            else (min(geometry.in_channels, geometry.out_channels),)
        )
        if len(value) != len(limits) or any(not 1 <= r <= m for r, m in zip(value, limits, strict=True)):
            raise OneByOneError(
                f"{name}: ranks {value} out of range; expected {len(limits)} value(s) in 1..{limits}"
            )
        chosen[name] = Option(value, 0.0, 0.0)
    return chosen


def _spectra(module: nn.Conv2d | nn.Linear, geometry: LayerGeometry) -> tuple[torch.Tensor, ...]:
    if geometry.kind == "conv":
        return decompose.mode_spectra(module.weight)
    matrix = module.weight.detach().reshape(geometry.out_channels, geometry.in_channels)
    return (decompose.singular_values(matrix),)


def allocate_budget(
    layers,
    geometries,
    in_shapes,
    budget,
    target,
    report,
    latency_batch,
    latency_points,
    rank_multiple,
    channels_last,
) -> dict[str, Option]:
    """One option per layer of `geometries` within `budget` of `target`; notes on `report`'s rows.

    `layers` maps each name to the layer as torch computes it (a plain Conv2d for a subclass).
    """
    options: dict[str, list[Option]] = {}
    cost_target = "params" if target == "params" else "macs"
    for name, geometry in geometries.items():
        spectra = _spectra(layers[name], geometry)
        path = rank_path(geometry, spectra, cost_target, rank_multiple)
        original = Option(None, geometry.cost(None, cost_target), 0.0)
        cheaper = [option for option in path if option.cost < original.cost]
        if target == "latency":
            report.latency_batch = latency_batch
            original, cheaper = _measure_options(
                layers[name],
                geometry,
                in_shapes[name],
                original,
                cheaper,
                latency_batch,
                latency_points,
                channels_last,
            )
            row = next(r for r in report.layers if r.name == name)
            row.ms_before = original.cost * 1e3
        if not cheaper:
            row = next(r for r in report.layers if r.name == name)
            row.reason = (
                "measured slower factorised at every rank tried"
                if target == "latency"
                else f"factorising saves no {cost_target} at any rank"
            )
            continue
        options[name] = [original, *cheaper]
    if not options:
        if budget < 1:
            measured = " as measured on this machine" if target == "latency" else ""
            raise OneByOneError(
                f"budget {budget:g} cannot be met: no layer gets cheaper factorised{measured}"
            )
        return {}
    # Layers that cannot be made cheaper still count at their original cost toward the budget.
    original_cost = {
        "latency": lambda r: r.ms_before / 1e3,
        "params": lambda r: r.params_before,
        "macs": lambda r: r.macs_before,
    }[target]
    fixed = sum(original_cost(r) for r in report.layers if r.name in geometries and r.name not in options)
    limit = budget * (sum(opts[0].cost for opts in options.values()) + fixed) - fixed
    if limit <= 0:
        raise OneByOneError(f"budget {budget} cannot be met: layers that cannot shrink already use more")
    return allocate(options, limit, {"latency": "latency", "params": "parameters"}.get(target, "MACs"))


@torch.inference_mode()
def _measure_options(module, geometry, in_shape, original, cheaper, batch, points, channels_last):
    """Re-cost the original layer and up to `points` ranks along its path in measured seconds."""
    layout = torch.channels_last if channels_last and len(in_shape) == 4 else torch.contiguous_format
    x = torch.randn(batch, *in_shape[1:]).contiguous(memory_format=layout)
    module = copy.deepcopy(module).to(memory_format=layout)
    seconds = _robust_seconds(lambda: module(x))
    measured_original = Option(None, seconds, 0.0)
    if not cheaper:
        return measured_original, []
    step = max(1, len(cheaper) // points)
    sample = cheaper[::step][:points] + [cheaper[-1]]
    measured = []
    for option in dict.fromkeys(sample):  # keep order, drop the repeated last one
        layers = _shaped_like(geometry, module, option.ranks).eval().to(memory_format=layout)
        seconds = _robust_seconds(lambda layers=layers: layers(x))
        if seconds < measured_original.cost:
            measured.append(Option(option.ranks, seconds, option.error))
    return measured_original, measured


def _robust_seconds(fn) -> float:
    """The fastest of three medians of three: other processes on the machine only ever add time."""
    median_seconds(fn, warmup=2, repeats=1)
    return min(median_seconds(fn, warmup=0, repeats=3) for _ in range(3))


def _shaped_like(geometry: LayerGeometry, module: nn.Module, ranks: tuple[int, ...]) -> nn.Sequential:
    """Layers of the factorised shape with random weights: timing does not depend on the values."""
    if geometry.kind == "linear":
        return nn.Sequential(
            nn.Linear(geometry.in_channels, ranks[0], bias=False),
            nn.Linear(ranks[0], geometry.out_channels, bias=geometry.bias),
        )
    assert isinstance(module, nn.Conv2d), "a conv or pointwise geometry is a Conv2d's"
    if geometry.kind == "pointwise":
        return nn.Sequential(
            decompose._copy_conv_geometry(module, geometry.in_channels, ranks[0], False),
            nn.Conv2d(ranks[0], geometry.out_channels, 1, bias=geometry.bias),
        )
    r_in, r_out = ranks
    return nn.Sequential(
        nn.Conv2d(geometry.in_channels, r_in, 1, bias=False),
        decompose._copy_conv_geometry(module, r_in, r_out, False),
        nn.Conv2d(r_out, geometry.out_channels, 1, bias=geometry.bias),
    )
