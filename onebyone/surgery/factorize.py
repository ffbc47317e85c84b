"""Factorise a model's convolutions and linear layers to a global budget of MACs, parameters or latency.

k×k convs become 1×1 → k×k → 1×1 (Tucker-2), 1×1 convs and linear layers two thin layers (SVD);
see `decompose`. Ranks come from `budget` (explicit, or allocated by `ranks.allocate`). The result
is a deep copy whose factorised layers are `nn.Sequential`s of plain `nn.Conv2d` / `nn.Linear`, so
it trains, compiles and exports like any model; `structure.factorized_structure` /
`rebuild_structure` describe and recreate that layout without pickles.

Subclasses of Conv2d and Linear are factorised by what they compute
(`onebyone.graph.layer_kinds`): a Linear subclass that computes F.linear, a Conv2d subclass
that computes a plain conv, or one after TensorFlow "SAME" padding (timm's Conv2dSame; an uneven
pad becomes an nn.ZeroPad2d in front of the k×k core). Linear layers on channels-last maps are
factorised over their last axis, as the 1×1 convs they are.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.graph import layer_kinds
from onebyone.surgery import decompose
from onebyone.surgery.budget import allocate_budget, explicit_ranks
from onebyone.surgery.ranks import LayerGeometry
from onebyone.surgery.structure import factorized_structure, rebuild_structure
from onebyone.torch_typing import pair

__all__ = [
    "FactorizeResult",
    "LayerFactorization",
    "factorize",
    "factorized_structure",
    "rebuild_structure",
]

SCHEMA_VERSION = 1
TARGETS = ("macs", "params", "latency")

MAX_HOOI_ITERS = 1000  # HOOI settles in a handful of iterations; more is a typo, not a wish


@dataclass
class LayerFactorization:
    """One Conv2d/Linear of the original model and what became of it."""

    name: str
    kind: str  # "conv" (k×k), "pointwise" (1×1), "linear", or the module type when unsupported
    shape: str  # e.g. "Conv2d 64→128 3×3 s2"
    method: str | None = None  # "tucker2", "svd" or None (left alone)
    ranks: tuple[int, ...] | None = None  # (r_in, r_out) for tucker2, (r,) for svd
    params_before: int = 0
    params_after: int = 0
    macs_before: int = 0
    macs_after: int = 0
    ms_before: float | None = None  # measured per layer, target "latency" only
    ms_after: float | None = None
    error: float | None = None  # ‖W − Ŵ‖_F / ‖W‖_F
    reason: str | None = None  # why it was left alone
    factorisable: bool = True  # a groups=1 Conv2d or Linear run by the model; only these count in totals
    note: str | None = None  # e.g. "SAME" padding fixed at the input size it was factorised at


@dataclass
class FactorizeResult:
    target: str
    budget: float | None
    input_shape: tuple[int, ...]
    hooi_iters: int
    rank_multiple: int = 1
    layers: list[LayerFactorization] = field(default_factory=list)
    latency_batch: int | None = None

    def total(self, attribute: str) -> float:
        """Sum of `attribute` over the factorisable layers (the ones a budget is a fraction of)."""
        return sum(getattr(layer, attribute) or 0 for layer in self.layers if layer.factorisable)

    @property
    def factorised(self) -> list[LayerFactorization]:
        return [layer for layer in self.layers if layer.method]

    def fraction(self, what: str) -> float:
        """After / before over the factorisable layers, for "macs", "params" or "ms"."""
        before = self.total(f"{what}_before")
        after = self.total(f"{what}_after")
        return after / before if before else 1.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        data["totals"] = {
            key: self.total(key) for key in ("params_before", "params_after", "macs_before", "macs_after")
        }
        data["totals"]["macs_fraction"] = self.fraction("macs")
        data["totals"]["params_fraction"] = self.fraction("params")
        data["totals"]["factorised_layers"] = len(self.factorised)
        return data


def factorize(
    model: nn.Module,
    budget: float | None = None,
    *,
    target: str = "macs",
    input_shape: tuple[int, ...],
    ranks: dict[str, int | tuple[int, int]] | None = None,
    hooi_iters: int = 0,
    latency_batch: int = 8,
    latency_points: int = 6,
    rank_multiple: int = 8,
    channels_last: bool = False,
    exclude: tuple[str, ...] = (),
) -> tuple[nn.Module, FactorizeResult]:
    """A factorised deep copy of `model` and a report per layer.

    Args:
        model: any module; its `nn.Conv2d` (groups 1) and `nn.Linear` children are factorised,
            subclasses included when they compute what their base class computes.
        budget: the fraction in (0, 1] of the factorisable layers' original `target` cost to keep.
        target: "macs", "params" or "latency" (per-layer time measured on this machine at
            `latency_batch`; a layer measured slower factorised at every rank tried is left alone).
        input_shape: (C, H, W) or (N, C, H, W); sets the spatial sizes that MACs depend on.
        ranks: instead of a budget, explicit ranks by module name: (r_in, r_out) for a k×k conv,
            r for a 1×1 conv or linear layer. Layers not named are left alone.
        hooi_iters: HOOI refinement iterations after the HOSVD initialisation (Tucker-2 only).
        latency_points: ranks measured per layer for target "latency".
        rank_multiple: budgeted ranks are multiples of this (or the full width): CPU conv kernels
            run whole blocks of 8/16 channels, and odd widths can be several times slower.
        channels_last: for target "latency", time the layers on channels-last tensors (the
            deployment layout; oneDNN picks different kernels for NCHW).
        exclude: module names to leave alone.
    """
    if target not in TARGETS:
        raise OneByOneError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if (budget is None) == (ranks is None):
        raise OneByOneError("give either a budget or explicit ranks")
    if budget is not None and not 0 < budget <= 1:
        raise OneByOneError(f"budget must be in (0, 1], got {budget}")
    if not 0 <= hooi_iters <= MAX_HOOI_ITERS or latency_batch < 1 or latency_points < 1 or rank_multiple < 1:
        raise OneByOneError(
            f"hooi_iters must be in 0..{MAX_HOOI_ITERS}; latency_batch, latency_points, "
            f"rank_multiple ≥ 1 (got {hooi_iters}, {latency_batch}, {latency_points}, "
            f"{rank_multiple})"
        )
    input_shape = tuple(input_shape)
    if len(input_shape) == 3:
        input_shape = (1, *input_shape)
    new_model = copy.deepcopy(model)
    report = FactorizeResult(target, budget, input_shape[1:], hooi_iters, rank_multiple)
    geometries, in_shapes, layers = _trace(new_model, input_shape, report, set(exclude))
    if ranks is not None:
        chosen = explicit_ranks(ranks, geometries)
    else:
        chosen = allocate_budget(
            {
                n: layer.conv if isinstance(layer, layer_kinds.PlainConv) else layer
                for n, layer in layers.items()
            },
            geometries,
            in_shapes,
            budget,
            target,
            report,
            latency_batch,
            latency_points,
            rank_multiple,
            channels_last,
        )
    for name, geometry in geometries.items():
        row = next(r for r in report.layers if r.name == name)
        option = chosen.get(name)
        if option is None or option.ranks is None:
            row.params_after, row.macs_after, row.ms_after = row.params_before, row.macs_before, row.ms_before
            row.reason = row.reason or "kept: budget met by cheaper cuts elsewhere"
            continue
        module = new_model.get_submodule(name)
        replacement, row.error = _factorize_module(layers[name], geometry, option.ranks, hooi_iters)
        replacement.train(module.training)
        new_model.set_submodule(name, replacement)
        fixed_at = getattr(layers[name], "fixed_at", None)
        if fixed_at:
            row.note = f'"SAME" padding as at {fixed_at[0]}×{fixed_at[1]} inputs (it depends on the size)'
        row.method = "tucker2" if geometry.kind == "conv" else "svd"
        row.ranks = option.ranks
        row.params_after = geometry.params(option.ranks)
        row.macs_after = geometry.macs(option.ranks)
        if target == "latency":
            row.ms_after = option.cost * 1e3
    return new_model, report


def _trace(
    model: nn.Module, input_shape: tuple[int, ...], report: FactorizeResult, exclude: set[str]
) -> tuple[dict[str, LayerGeometry], dict[str, tuple[int, ...]], dict[str, nn.Module]]:
    """Run one batch-1 forward pass to find each layer's input and output sizes.

    Returns the geometry and input shape of each factorisable layer, and the layer as torch
    computes it: the Linear itself, or a `layer_kinds.PlainConv` for a Conv2d.
    """
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def record(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            shapes.setdefault(name, (tuple(args[0].shape), tuple(output.shape)))

        return hook

    candidates = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.Conv1d, nn.Conv3d, nn.ConvTranspose2d))
    }
    hooks = [m.register_forward_hook(record(n)) for n, m in candidates.items()]
    was_training = model.training
    model.eval()  # no batch-norm statistics updates from the probe
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape[1:]))
    except Exception as exc:
        raise OneByOneError(f"the model does not run on input {input_shape[1:]}: {exc}") from exc
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    geometries: dict[str, LayerGeometry] = {}
    layers: dict[str, nn.Module] = {}
    for name, module in candidates.items():
        geometry, reason, layers[name] = _geometry(name, module, shapes.get(name))
        row = LayerFactorization(
            name, geometry.kind if geometry else type(module).__name__, _describe(module)
        )
        groups = getattr(module, "groups", 1)
        if geometry is not None:
            row.params_before = row.params_after = sum(p.numel() for p in module.parameters(recurse=False))
            row.macs_before = row.macs_after = geometry.macs() // groups
        row.reason = reason or ("excluded" if name in exclude else None)
        row.factorisable = row.reason is None
        report.layers.append(row)
        if row.reason is None:
            geometries[name] = geometry
    in_shapes = {name: shapes[name][0] for name in geometries}
    return geometries, in_shapes, {name: layers[name] for name in geometries}


def _geometry(name: str, module: nn.Module, shapes):
    """(geometry, reason it is not factorisable or None, the layer as torch computes it)."""
    kind = type(module).__name__
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        return None, f"{kind} is not supported (only nn.Conv2d and nn.Linear)", None
    if shapes is None:
        return None, "not run by the forward pass", None
    (in_shape, out_shape) = shapes
    bias = module.bias is not None
    if isinstance(module, nn.Linear):
        if not layer_kinds.is_linear(module):
            return None, f"{kind}, an nn.Linear subclass, does not compute F.linear(x, weight, bias)", None
        rows = _product(in_shape[:-1])  # every position of a channels-last map is a row
        geometry = LayerGeometry(
            name, "linear", module.in_features, module.out_features, (1, 1), rows, rows, bias
        )
        return geometry, None, module
    plain = layer_kinds.plain_conv2d(module, in_shape) if len(in_shape) == 4 else None
    if plain is None:
        return None, f"{kind}, an nn.Conv2d subclass, does not compute a convolution with zero padding", None
    kind = "pointwise" if module.kernel_size == (1, 1) else "conv"
    geometry = LayerGeometry(
        name,
        kind,
        module.in_channels,
        module.out_channels,
        pair(module.kernel_size),
        _product(in_shape[-2:]),
        _product(out_shape[-2:]),
        bias,
    )
    if module.groups != 1:
        return geometry, f"grouped conv (groups={module.groups}): Tucker-2/SVD need groups=1", plain
    return geometry, None, plain


def _product(values) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result


def _describe(module: nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose2d) -> str:
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}→{module.out_features}"
    kernel = "×".join(map(str, module.kernel_size))
    text = f"{type(module).__name__} {module.in_channels}→{module.out_channels} {kernel}"
    stride = getattr(module, "stride", (1,))
    if any(s != 1 for s in stride):
        text += " s" + "×".join(map(str, stride)) if len(set(stride)) > 1 else f" s{stride[0]}"
    groups = getattr(module, "groups", 1)
    if groups != 1:
        text += f" g{groups}"
    return text


def _factorize_module(layer, geometry, ranks, hooi_iters) -> tuple[nn.Sequential, float]:
    if geometry.kind == "linear":
        return decompose.factorize_linear_svd(layer, ranks[0])
    if geometry.kind == "pointwise":  # a 1×1 conv never pads unevenly for "SAME"
        return decompose.factorize_pointwise_svd(layer.conv, ranks[0])
    layers, error = decompose.factorize_conv_tucker2(layer.conv, ranks[0], ranks[1], hooi_iters)
    if layer.pad is not None:  # in front of the k×k core: after the 1×1 reduction, if there is one
        core = 0 if ranks[0] == geometry.in_channels else 1
        children = list(layers)  # a list: the stubs type a Sequential's slice as `Sequential | Module`
        layers = nn.Sequential(*children[:core], nn.ZeroPad2d(layer.pad), *children[core:])
    return layers, error
