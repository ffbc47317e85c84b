"""Fold eval-mode batch norm into the preceding convolution.

y = γ·(conv(x) − μ)/√(σ²+ε) + β is again a convolution, with weights scaled per output channel
and a new bias, so the BN can go. Pairs are found on a torch.fx trace (the BN's only input is
the conv's output and nothing else reads that output); the fold is then done on a copy of the
original module tree, which keeps the model's own class and methods. A model fx cannot trace
falls back to adjacent (conv, BN) pairs inside nn.Sequential containers.

Convs and batch norms are recognised by what they compute (`onebyone.graph.layer_kinds`): a
BatchNorm2d subclass that applies an activation after normalising (timm's BatchNormAct2d) is
folded and replaced by that activation; every fold is checked on a probe input, so a conv
subclass that uses its weights otherwise (weight standardisation) keeps its norm, with the reason.

A batch norm beside a Linear (before or after it) folds into that Linear where both act on the
same axis, which the graph alone cannot say: given an example input, the norm's input shape is
recorded on a run of it, and the fold is made only on an (N, C) input (`onebyone.deploy.norm_linear`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_weights

from onebyone.deploy import norm_linear
from onebyone.deploy.norm_linear import NormLinearPair
from onebyone.graph import layer_kinds

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class FoldResult:
    """Which (layer, norm) pairs were folded (a conv and the norm after it, a Linear and the norm
    before or after it), and which norms were left in place (and why, where such a layer is beside
    them)."""

    folded: list[tuple[str, str]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    method: str = "fx"
    reasons: dict[str, str] = field(default_factory=dict)  # kept norm -> why, for those beside a layer


def fold_batchnorm(model: nn.Module, example_input: Tensor | None = None) -> tuple[nn.Module, FoldResult]:
    """A copy of `model` in eval mode with every foldable batch norm folded away.

    `example_input`, one input the model takes, tells the shape a batch norm beside a Linear sees:
    without it such a norm is kept, with the reason. Returns the copy and a report. The original
    model is not changed.
    """
    folded_model = copy.deepcopy(model).eval()
    try:
        graph = layer_kinds.trace(folded_model).graph
        calls: dict[str, int] = {}
        for node in graph.nodes:
            if node.op == "call_module":
                calls[node.target] = calls.get(node.target, 0) + 1
        pairs = _pairs_from_fx(folded_model, graph, calls)
        linear_pairs = norm_linear.pairs_from_graph(folded_model, graph, calls)
        method = "fx"
    except Exception:  # fx cannot trace every model (data-dependent control flow, ...)
        pairs = _pairs_from_sequentials(folded_model)
        linear_pairs = norm_linear.pairs_from_sequentials(folded_model)
        method = "sequential"
    report = FoldResult(method=method)
    for layer_name, norm_name in pairs:
        layer = folded_model.get_submodule(layer_name)
        norm = folded_model.get_submodule(norm_name)
        then = layer_kinds.batch_norm_then(norm)
        if then is None:
            report.reasons[norm_name] = _not_a_batch_norm(norm)
            continue
        if not _fold_into(layer, norm):
            report.reasons[norm_name] = (
                f"{layer_name} ({type(layer).__name__}) does not compute a plain convolution of its weights"
            )
            continue
        _set_submodule(folded_model, norm_name, then)
        report.folded.append((layer_name, norm_name))
    done = {norm for _, norm in report.folded}
    _fold_into_linears(folded_model, [p for p in linear_pairs if p.norm not in done], example_input, report)
    done = {norm for _, norm in report.folded}
    report.kept = [n for n, m in folded_model.named_modules() if isinstance(m, _BatchNorm) and n not in done]
    return folded_model, report


def _not_a_batch_norm(norm: nn.Module) -> str:
    if norm.running_mean is None:
        return "no running statistics: it normalises by batch statistics"
    return f"{type(norm).__name__} does not compute batch norm followed by its child modules"


def _fold_into_linears(
    model: nn.Module, pairs: list[NormLinearPair], example_input: Tensor | None, report: FoldResult
) -> None:
    """Fold each norm of `pairs` into its Linear where the shape it sees on `example_input` is (N, C)."""
    if not pairs:
        return
    shapes, why_unknown = None, "its input's shape is not known (no example input)"
    if example_input is not None:
        found = norm_linear.norm_input_shapes(model, example_input, [pair.norm for pair in pairs])
        if isinstance(found, str):
            why_unknown = found
        else:
            shapes = found
    for pair in pairs:
        norm, linear = model.get_submodule(pair.norm), model.get_submodule(pair.linear)
        then = layer_kinds.batch_norm_then(norm)
        if then is None:
            reason: str | None = _not_a_batch_norm(norm)
        elif pair.norm_first and not isinstance(then, nn.Identity):
            reason = f"its {type(then).__name__} comes between it and Linear {pair.linear}"
        else:
            reason = norm_linear.refusal(pair, None if shapes is None else shapes[pair.norm], why_unknown)
        if reason is None and not norm_linear.fold_into_linear(
            cast(nn.Linear, linear), cast(_BatchNorm, norm), pair.norm_first
        ):
            reason = (
                f"{pair.linear} ({type(linear).__name__}) does not compute a plain linear map of its "
                "weights: the fold disagrees with it on a probe input"
            )
        if reason is not None:
            report.reasons[pair.norm] = reason
            continue
        _set_submodule(model, pair.norm, then)
        report.folded.append((pair.linear, pair.norm))


@torch.no_grad()
def _fold_into(layer: nn.Module, norm: nn.Module) -> bool:
    """Fold `norm` into `layer` in place if a probe confirms the result; False (unchanged) if not."""
    x = _probe_input(layer)
    mean, var = norm.running_mean, norm.running_var
    expected = F.batch_norm(layer(x), mean, var, norm.weight, norm.bias, False, 0.0, norm.eps)
    original = layer.weight, layer.bias
    weight, bias = fuse_conv_bn_weights(
        layer.weight, layer.bias, norm.running_mean, norm.running_var, norm.eps, norm.weight, norm.bias
    )
    layer.weight = nn.Parameter(weight.detach(), requires_grad=layer.weight.requires_grad)
    layer.bias = nn.Parameter(bias.detach(), requires_grad=layer.weight.requires_grad)
    if layer_kinds.computes_like(layer, lambda _: expected, x):
        return True
    layer.weight, layer.bias = original
    return False


def _probe_input(conv: nn.Module) -> torch.Tensor:
    """A small seeded input on which `conv` gives at least one output position per axis."""
    settings = zip(conv.kernel_size, conv.stride, conv.dilation, strict=True)
    sizes = [dilation * (kernel - 1) + 1 + stride for kernel, stride, dilation in settings]
    x = torch.randn(2, conv.in_channels, *sizes, generator=torch.Generator().manual_seed(0))
    return x.to(device=conv.weight.device, dtype=conv.weight.dtype)


def _pairs_from_fx(model: nn.Module, graph: fx.Graph, calls: dict[str, int]) -> list[tuple[str, str]]:
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(model.get_submodule(node.target), _BatchNorm):
            continue
        source = node.args[0] if node.args else None
        if not isinstance(source, fx.Node) or source.op != "call_module" or len(source.users) != 1:
            continue
        layer = model.get_submodule(source.target)
        if not _foldable_pair(layer, model.get_submodule(node.target)):
            continue
        # A module called twice would be folded for one call and wrong for the other.
        if calls[source.target] == 1 and calls[node.target] == 1:
            pairs.append((source.target, node.target))
    return pairs


def _pairs_from_sequentials(model: nn.Module) -> list[tuple[str, str]]:
    pairs = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (layer_name, layer), (norm_name, norm) in zip(children, children[1:], strict=False):
            if isinstance(norm, _BatchNorm) and _foldable_pair(layer, norm):
                prefix = f"{name}." if name else ""
                pairs.append((prefix + layer_name, prefix + norm_name))
    return pairs


def _foldable_pair(layer: nn.Module, norm: nn.Module) -> bool:
    # Linear + batch norm is norm_linear's: whether they share an axis depends on the input's shape.
    return isinstance(layer, _CONVS) and layer.out_channels == norm.num_features


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)
