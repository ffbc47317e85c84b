"""Factorise a model's convolutions and linear layers to a global budget of MACs, parameters or latency.

k×k convs become 1×1 → k×k → 1×1 (Tucker-2), 1×1 convs and linear layers two thin layers (SVD);
see `decompose`. Ranks come from `ranks.allocate`. The result is a deep copy whose factorised
layers are `nn.Sequential`s of plain `nn.Conv2d` / `nn.Linear`, so it trains, compiles and exports
like any model; `factorized_structure` / `rebuild_structure` describe and recreate that layout
without pickles.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from onebyone.analysis.timing import median_seconds
from onebyone.errors import OneByOneError
from onebyone.surgery import decompose
from onebyone.surgery.ranks import LayerGeometry, Option, allocate, rank_path

SCHEMA_VERSION = 1
TARGETS = ("macs", "params", "latency")


@dataclass
class LayerReport:
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


@dataclass
class FactorizeReport:
    target: str
    budget: float | None
    input_shape: tuple[int, ...]
    hooi_iters: int
    rank_multiple: int = 1
    layers: list[LayerReport] = field(default_factory=list)
    latency_batch: int | None = None

    def total(self, attribute: str) -> float:
        """Sum of `attribute` over the factorisable layers (the ones a budget is a fraction of)."""
        return sum(getattr(layer, attribute) or 0 for layer in self.layers if layer.factorisable)

    @property
    def factorised(self) -> list[LayerReport]:
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
            key: self.total(key)
            for key in ("params_before", "params_after", "macs_before", "macs_after")
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
) -> tuple[nn.Module, FactorizeReport]:
    """A factorised deep copy of `model` and a report per layer.

    Args:
        model: any module; its `nn.Conv2d` (groups 1) and `nn.Linear` children are factorised.
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
    if hooi_iters < 0 or latency_batch < 1 or latency_points < 1 or rank_multiple < 1:
        raise OneByOneError("hooi_iters must be ≥ 0; latency_batch, latency_points, rank_multiple ≥ 1")
    input_shape = tuple(input_shape)
    if len(input_shape) == 3:
        input_shape = (1, *input_shape)
    new_model = copy.deepcopy(model)
    report = FactorizeReport(target, budget, input_shape[1:], hooi_iters, rank_multiple)
    geometries, in_shapes = _trace(new_model, input_shape, report, set(exclude))
    if ranks is not None:
        chosen = _explicit_ranks(ranks, geometries)
    else:
        chosen = _allocate(new_model, geometries, in_shapes, budget, target, report, latency_batch,
                           latency_points, rank_multiple, channels_last)
    for name, geometry in geometries.items():
        row = next(r for r in report.layers if r.name == name)
        option = chosen.get(name)
        if option is None or option.ranks is None:
            row.params_after, row.macs_after, row.ms_after = row.params_before, row.macs_before, row.ms_before
            row.reason = row.reason or "kept: budget met by cheaper cuts elsewhere"
            continue
        module = new_model.get_submodule(name)
        replacement, row.error = _factorize_module(module, geometry, option.ranks, hooi_iters)
        replacement.train(module.training)
        _set_submodule(new_model, name, replacement)
        row.method = "tucker2" if geometry.kind == "conv" else "svd"
        row.ranks = option.ranks
        row.params_after = geometry.params(option.ranks)
        row.macs_after = geometry.macs(option.ranks)
        if target == "latency":
            row.ms_after = option.cost * 1e3
    return new_model, report


def _trace(
    model: nn.Module, input_shape: tuple[int, ...], report: FactorizeReport, exclude: set[str]
) -> tuple[dict[str, LayerGeometry], dict[str, tuple[int, ...]]]:
    """Run one batch-1 forward pass to find each layer's input and output sizes."""
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def record(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            shapes.setdefault(name, (tuple(args[0].shape), tuple(output.shape)))

        return hook

    candidates = {
        name: module for name, module in model.named_modules()
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
    for name, module in candidates.items():
        geometry, reason = _geometry(name, module, shapes.get(name))
        row = LayerReport(name, geometry.kind if geometry else type(module).__name__, _describe(module))
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
    return geometries, in_shapes


def _geometry(name: str, module: nn.Module, shapes) -> tuple[LayerGeometry | None, str | None]:
    if type(module) not in (nn.Conv2d, nn.Linear):
        return None, f"{type(module).__name__} is not supported (only nn.Conv2d and nn.Linear)"
    if shapes is None:
        return None, "not run by the forward pass"
    (in_shape, out_shape) = shapes
    bias = module.bias is not None
    if isinstance(module, nn.Linear):
        rows = _product(in_shape[:-1])
        geometry = LayerGeometry(
            name, "linear", module.in_features, module.out_features, (1, 1), rows, rows, bias
        )
        return geometry, None
    kind = "pointwise" if module.kernel_size == (1, 1) else "conv"
    geometry = LayerGeometry(
        name, kind, module.in_channels, module.out_channels, tuple(module.kernel_size),
        _product(in_shape[-2:]), _product(out_shape[-2:]), bias,
    )
    if module.groups != 1:
        return geometry, f"grouped conv (groups={module.groups}): Tucker-2/SVD need groups=1"
    return geometry, None


def _product(values) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result


def _describe(module: nn.Module) -> str:
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


def _explicit_ranks(ranks: dict, geometries: dict[str, LayerGeometry]) -> dict[str, Option]:
    chosen = {}
    for name, value in ranks.items():
        if name not in geometries:
            raise OneByOneError(f"no factorisable layer {name!r}; factorisable: {', '.join(geometries)}")
        geometry = geometries[name]
        value = (value,) if isinstance(value, int) else tuple(value)
        limits = (geometry.in_channels, geometry.out_channels) if geometry.kind == "conv" else (
            min(geometry.in_channels, geometry.out_channels),)
        if len(value) != len(limits) or any(not 1 <= r <= m for r, m in zip(value, limits, strict=True)):
            raise OneByOneError(f"{name}: ranks {value} out of range; expected {len(limits)} value(s) "
                                f"in 1..{limits}")
        chosen[name] = Option(value, 0.0, 0.0)
    return chosen


def _spectra(module: nn.Module, geometry: LayerGeometry) -> tuple[torch.Tensor, ...]:
    if geometry.kind == "conv":
        return decompose.mode_spectra(module.weight)
    matrix = module.weight.detach().reshape(geometry.out_channels, geometry.in_channels)
    return (decompose.singular_values(matrix),)


def _allocate(model, geometries, in_shapes, budget, target, report, latency_batch, latency_points,
              rank_multiple, channels_last):
    options: dict[str, list[Option]] = {}
    cost_target = "params" if target == "params" else "macs"
    for name, geometry in geometries.items():
        spectra = _spectra(model.get_submodule(name), geometry)
        path = rank_path(geometry, spectra, cost_target, rank_multiple)
        original = Option(None, geometry.cost(None, cost_target), 0.0)
        cheaper = [option for option in path if option.cost < original.cost]
        if target == "latency":
            report.latency_batch = latency_batch
            original, cheaper = _measure_options(
                model.get_submodule(name), geometry, in_shapes[name], original, cheaper, latency_batch,
                latency_points, channels_last,
            )
            row = next(r for r in report.layers if r.name == name)
            row.ms_before = original.cost * 1e3
        if not cheaper:
            row = next(r for r in report.layers if r.name == name)
            row.reason = (
                "measured slower factorised at every rank tried" if target == "latency"
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
    original_cost = {"latency": lambda r: r.ms_before / 1e3, "params": lambda r: r.params_before,
                     "macs": lambda r: r.macs_before}[target]
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
        return nn.Sequential(nn.Linear(geometry.in_channels, ranks[0], bias=False),
                             nn.Linear(ranks[0], geometry.out_channels, bias=geometry.bias))
    if geometry.kind == "pointwise":
        return nn.Sequential(decompose._copy_conv_geometry(module, geometry.in_channels, ranks[0], False),
                             nn.Conv2d(ranks[0], geometry.out_channels, 1, bias=geometry.bias))
    r_in, r_out = ranks
    return nn.Sequential(nn.Conv2d(geometry.in_channels, r_in, 1, bias=False),
                         decompose._copy_conv_geometry(module, r_in, r_out, False),
                         nn.Conv2d(r_out, geometry.out_channels, 1, bias=geometry.bias))


def _factorize_module(module, geometry, ranks, hooi_iters) -> tuple[nn.Sequential, float]:
    if geometry.kind == "conv":
        return decompose.factorize_conv_tucker2(module, ranks[0], ranks[1], hooi_iters)
    if geometry.kind == "pointwise":
        return decompose.factorize_pointwise_svd(module, ranks[0])
    return decompose.factorize_linear_svd(module, ranks[0])


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


# --- a pickle-free description of the factorised layout -------------------------------------------

def factorized_structure(model: nn.Module, report: FactorizeReport) -> list[dict]:
    """For each factorised layer: its name and the constructor arguments of its replacement layers."""
    structure = []
    for row in report.factorised:
        layers = []
        for layer in model.get_submodule(row.name):
            if isinstance(layer, nn.Linear):
                layers.append({"type": "Linear", "in_features": layer.in_features,
                               "out_features": layer.out_features, "bias": layer.bias is not None})
            else:
                layers.append({
                    "type": "Conv2d", "in_channels": layer.in_channels, "out_channels": layer.out_channels,
                    "kernel_size": list(layer.kernel_size), "stride": list(layer.stride),
                    "padding": layer.padding if isinstance(layer.padding, str) else list(layer.padding),
                    "dilation": list(layer.dilation), "padding_mode": layer.padding_mode,
                    "bias": layer.bias is not None,
                })
        structure.append({"name": row.name, "method": row.method, "ranks": list(row.ranks), "layers": layers})
    return structure


def rebuild_structure(model: nn.Module, structure: list[dict]) -> nn.Module:
    """Replace, in place, each named layer of `model` by the described plain layers (weights unset)."""
    for entry in structure:
        layers = []
        for spec in entry["layers"]:
            spec = dict(spec)
            kind = spec.pop("type")
            if kind == "Linear":
                layers.append(nn.Linear(**spec))
            elif kind == "Conv2d":
                for key in ("kernel_size", "stride", "dilation"):
                    spec[key] = tuple(spec[key])
                if not isinstance(spec["padding"], str):
                    spec["padding"] = tuple(spec["padding"])
                layers.append(nn.Conv2d(**spec))
            else:
                raise OneByOneError(f"unknown layer type {kind!r} in the factorised structure")
        try:
            model.get_submodule(entry["name"])
        except AttributeError as exc:
            raise OneByOneError(f"the model has no layer {entry['name']!r} to rebuild") from exc
        _set_submodule(model, entry["name"], nn.Sequential(*layers))
    return model
