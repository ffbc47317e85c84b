"""A classifier head's vectors as maps: the graph rewrite behind FC → conv and class activation maps.

A linear layer on a flattened C×H×W map is a conv with an H×W kernel; on the output of global
pooling or of another such layer it is a 1×1 conv (Sermanet et al., "OverFeat", 2014; Long,
Shelhamer and Darrell, "Fully Convolutional Networks", 2015). `convert_fc_layers` rewrites every
such layer: the converted network gives the same output at the original input size and, on a
larger input, a map of class scores, each cell the original network applied to one window.

Global pooling that feeds a linear layer (directly, or through layers that act on each position
alike: 1×1 convs, batch norm, a LayerNorm over the channels, activations) becomes a fixed
average (or max) pool over the map size seen at the original input, stride 1, so that it too
slides; an adaptive pool that is the identity at the original size (AlexNet's 6×6 pool at 224) is
removed. A linear layer applied to the last axis of an (N, H, W, C) map (ConvNeXt's blocks, a
ViT's tokens) already acts on each position: it is a 1×1 conv in channels-last layout and is
kept as it is. `rewrite_head(..., pool="remove")` is the same rewrite for class activation maps
(`onebyone.insight.cam`). Works on any model torch.fx can trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import fx, nn

from onebyone.errors import OneByOneError
from onebyone.graph import layer_kinds
from onebyone.graph.functional_heads import lift_functional_linears
from onebyone.graph.trace import TracedModel


@fx.wrap
def vector_if_single_cell(x: torch.Tensor) -> torch.Tensor:
    """(N, K, 1, 1) → (N, K), as the original network returned; a larger map is kept as (N, K, h, w)."""
    return x.flatten(1) if x.dim() == 4 and x.shape[-2:] == (1, 1) else x


layer_kinds.LEAF_FUNCTIONS.append(vector_if_single_cell)  # a converted model traces again (inspect cam)


def _as_map(x: torch.Tensor) -> torch.Tensor:
    """Marks where a flatten or a global pool was: the tensor stays an (N, C, h, w) map."""
    return x


@dataclass
class LayerConversion:
    """One linear layer and the convolution that replaced it."""

    layer: str  # module path, e.g. "head.fc"
    before: str  # "Linear(4704 → 10)"
    after: str  # "Conv2d(96 → 10, 7×7)"
    reads: str  # what its input was: "a flattened 96×7×7 map", "a converted layer", ...


@dataclass
class FcToConvResult:
    """The converted model and what was changed; `max_abs_difference` is measured at `input_shape`."""

    model: nn.Module
    input_shape: tuple[int, ...]
    layers: list[LayerConversion] = field(default_factory=list)
    pools: list[str] = field(default_factory=list)  # what became of pools in front of the head
    max_abs_difference: float = 0.0
    # Linear layers on channels-last maps, kept: "stages.0.mlp.fc1 (Linear 96 → 384) on 56×56×96 maps"
    position_wise: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = {
            "input_shape": list(self.input_shape),
            "layers": [asdict(layer) for layer in self.layers],
            "pools": list(self.pools),
            "max_abs_difference": self.max_abs_difference,
        }
        if self.position_wise:  # only then: files of models without such layers stay as they were
            data["position_wise"] = list(self.position_wise)
        return data


def convert_fc_layers(model: nn.Module, input_shape: Sequence[int]) -> FcToConvResult:
    """Convert every linear layer of `model`'s head into a conv; check the outputs agree at `input_shape`.

    Linear layers are nn.Linear and its subclasses that compute one (timm's `Linear`), and linear
    maps written as functions of a parameter (F.linear, x @ W, torch.matmul, addmm; see
    `functional_heads`); those on channels-last maps are 1×1 convs already and are kept (listed in
    `position_wise`).

    Args:
        model: a torch.fx-traceable model (any nn.Sequential, every zoo model); not modified.
        input_shape: (C, H, W) or (N, C, H, W), the size the linear layers were built for.

    Returns:
        The converted copy (a torch.fx GraphModule in the model's train/eval mode) with a record of
        each conversion and the largest absolute output difference on a random input, in eval mode.
    """
    traced = TracedModel(model, input_shape)
    unconvertible = lift_functional_linears(traced)
    nodes = list(traced.module.graph.nodes)
    linears = [n for n in nodes if traced.is_linear(n)]
    position_wise = [n for n in nodes if traced.is_position_wise_linear(n)]
    if not linears and unconvertible:
        raise OneByOneError(f"cannot convert {traced.name}: {next(iter(unconvertible.values()))}")
    if not linears:
        already = (
            f"its {len(position_wise)} linear layers act on each position of a map, as 1×1 convs"
            if position_wise
            else "without one a network is already fully convolutional"
        )
        raise OneByOneError(
            f"{traced.name} has no nn.Linear layer on vectors, nor F.linear or a product (@, matmul) "
            f"with a parameter: nothing to convert ({already})"
        )
    marked: set[fx.Node] = set()
    for node in linears:
        _mark_head(traced, traced.tensor_inputs(node)[0], marked)
    result = FcToConvResult(model=traced.module, input_shape=traced.input_shape)
    for node in position_wise:
        linear, shape = traced.target_module(node), traced.shape(traced.tensor_inputs(node)[0])
        assert isinstance(linear, nn.Linear) and shape is not None, "is_position_wise_linear checked both"
        result.position_wise.append(
            f"{node.target} (Linear {linear.in_features} → {linear.out_features}) on "
            f"{'×'.join(map(str, shape[1:]))} channels-last maps: a 1×1 conv already, kept"
        )
    rewrite_head(traced, marked, pool="window", result=result, unconvertible=unconvertible)
    result.model.train(traced.training)
    result.max_abs_difference = _difference(model, result.model, traced.input_shape)
    return result


def _mark_head(traced: TracedModel, node: fx.Node, marked: set[fx.Node]) -> None:
    """Walk back from a linear layer's input and mark the flatten and pools that lead to it.

    Ops that act on each position alike (a 1×1 conv after the pool, MobileNetV3's `conv_head`)
    are passed: after the pool becomes a sliding window they compute the same for every window.
    """
    while isinstance(node, fx.Node):
        inputs = traced.tensor_inputs(node)
        if traced.is_any_linear(node) or len(inputs) != 1:
            return
        if traced.global_pool(node) is not None:
            marked.add(node)
            return
        if traced.identity_pool(node) or traced.flattened_map(node) is not None:
            marked.add(node)
        elif not (
            traced.elementwise(node) is not None
            or traced.is_scalar_arithmetic(node)
            or traced.keeps_vector(node)
            or isinstance(traced.target_module(node), nn.BatchNorm1d)
            or traced.is_position_wise(node)
        ):
            return
        node = inputs[0]


def rewrite_head(
    traced: TracedModel,
    marked: set[fx.Node],
    *,
    pool: str,
    result: FcToConvResult,
    unconvertible: dict[fx.Node, str] | None = None,
) -> None:
    """Rewrite `traced.module` in place so that the vectors of the head become maps.

    `marked` holds the flatten, global-pool and identity-pool nodes to rewrite. `pool="window"`
    makes a marked global pool a fixed window of the map size at the traced input (and turns a
    single-cell output back into a vector); `pool="remove"` drops it, so the output is the map
    the pool would have averaged (class activation maps). `unconvertible` holds why functional
    linear maps could not become modules (`lift_functional_linears`), for the error message.
    """
    gm, graph = traced.module, traced.module.graph
    # node -> (C, H, W) of the map its (N, F) vector came from, and how it came
    lifted: dict[fx.Node, tuple[tuple[int, int, int], str]] = {}
    for node in list(graph.nodes):
        inputs = traced.tensor_inputs(node)
        sources = [a for a in inputs if a in lifted]
        if node in marked:
            _rewrite_marked(traced, node, inputs[0], pool, lifted, result)
        elif node.op == "output":
            if pool == "window":
                with graph.inserting_before(node):
                    node.args = fx.node.map_arg(
                        node.args,
                        lambda n: graph.call_function(vector_if_single_cell, (n,)) if n in lifted else n,
                    )
        elif not sources:
            if traced.is_linear(node):
                raise OneByOneError(
                    f"cannot convert {traced.name}: {traced.describe(node)} reads a tensor of shape "
                    f"{traced.shape(inputs[0]) if inputs else '?'} that is not a flattened feature map or "
                    "the output of global pooling, so it has no spatial layout to slide over"
                )
        elif traced.keeps_vector(node):
            node.replace_all_uses_with(sources[0])
            graph.erase_node(node)
        elif node.op == "call_method" and node.target == "size" and node.args[1:] in ((0,), ()):
            continue  # x.size(0) for a view: the batch size is the same
        elif traced.is_linear(node):
            lifted[node] = _linear_to_conv(traced, node, *lifted[sources[0]], result)
        elif len(inputs) == 1 and (
            traced.elementwise(node) is not None
            or traced.is_scalar_arithmetic(node)
            or isinstance(traced.target_module(node), nn.BatchNorm1d)
        ):
            module = traced.target_module(node)
            if isinstance(module, nn.BatchNorm1d):
                gm.add_submodule(node.target, _norm_2d(module))
            lifted[node] = lifted[sources[0]]
        elif unconvertible and node in unconvertible:
            raise OneByOneError(f"cannot convert {traced.name}: {unconvertible[node]}")
        else:
            raise OneByOneError(
                f"cannot convert {traced.name}: {traced.describe(node)} reads the output of "
                f"{traced.describe(sources[0])}, which becomes a map; only element-wise layers, batch "
                "norm and linear layers can follow a converted layer"
            )
    graph.eliminate_dead_code()
    graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()


def _rewrite_marked(traced, node: fx.Node, source: fx.Node, pool: str, lifted, result) -> None:
    gm, graph = traced.module, traced.module.graph
    if traced.identity_pool(node):
        result.pools.append(
            f"{traced.describe(node)}: the identity at {_size(traced.shape(source))}, removed"
        )
        node.replace_all_uses_with(source)
        graph.erase_node(node)
        return
    kind = traced.global_pool(node)
    with graph.inserting_before(node):
        if kind is not None:
            _, channels, height, width = traced.shape(source)
            if pool == "window":
                window = (nn.AvgPool2d if kind == "avg" else nn.MaxPool2d)((height, width), stride=1)
                name = _free_name(gm, f"{node.name}_window")
                gm.add_submodule(name, window)
                replacement = graph.call_module(name, (source,))
                result.pools.append(
                    f"{traced.describe(node)}: global {kind} pool → {height}×{width} window, stride 1"
                )
            else:
                replacement = graph.call_function(_as_map, (source,))
            # Kept (N, C, 1, 1) at the traced size: a vector only if the pool returned one.
            if len(traced.shape(node)) == 2:
                lifted[replacement] = ((channels, 1, 1), f"global {kind} pooling of {channels} channels")
        else:
            replacement = graph.call_function(_as_map, (source,))
            reads = traced.flattened_map(node)
            lifted[replacement] = (reads, f"a flattened {'×'.join(map(str, reads))} map")
    replacement.meta = dict(node.meta)  # shapes stay those of the original network
    node.replace_all_uses_with(replacement)
    graph.erase_node(node)


def _linear_to_conv(traced: TracedModel, node: fx.Node, reads: tuple[int, int, int], origin: str, result):
    linear, path = traced.target_module(node), node.target
    assert isinstance(linear, nn.Linear) and isinstance(path, str), "is_linear: a call of an nn.Linear"
    channels, height, width = reads
    if channels * height * width != linear.in_features:
        raise OneByOneError(
            f"cannot convert {traced.name}: {traced.describe(node)} has {linear.in_features} inputs but "
            f"reads a {channels}×{height}×{width} map"
        )
    conv = nn.Conv2d(channels, linear.out_features, (height, width), bias=linear.bias is not None)
    conv = conv.to(device=linear.weight.device, dtype=linear.weight.dtype)
    with torch.no_grad():
        # Flatten order is channel-major, then row, then column: exactly a (C, H, W) kernel.
        conv.weight.copy_(linear.weight.reshape(linear.out_features, channels, height, width))
        if linear.bias is not None and conv.bias is not None:  # both or neither
            conv.bias.copy_(linear.bias)
    conv.weight.requires_grad_(linear.weight.requires_grad)
    traced.module.add_submodule(path, conv)
    if not any(c.layer == path for c in result.layers):
        result.layers.append(
            LayerConversion(
                layer=path,
                before=f"Linear({linear.in_features} → {linear.out_features})",
                after=f"Conv2d({channels} → {linear.out_features}, {height}×{width})",
                reads=origin,
            )
        )
    return (linear.out_features, 1, 1), f"the output of {path}"


def _norm_2d(norm: nn.BatchNorm1d) -> nn.BatchNorm2d:
    """The same per-channel normalisation for (N, C, h, w) maps."""
    settings = (norm.eps, norm.momentum, norm.affine, norm.track_running_stats)
    replacement = nn.BatchNorm2d(norm.num_features, *settings)
    replacement.load_state_dict(norm.state_dict())
    return replacement.to(next(iter(norm.state_dict().values()), torch.empty(0)).device)


def _free_name(gm: nn.Module, base: str) -> str:
    names = dict(gm.named_modules())
    name, index = base, 1
    while name in names:
        index += 1
        name = f"{base}{index}"
    return name


def _size(shape) -> str:
    return "×".join(str(d) for d in shape[2:]) if shape else "?"


@torch.no_grad()
def _difference(original: nn.Module, converted: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Largest |original − converted| on a seeded random input, both in eval mode."""
    x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0))
    modes = [(m, m.training) for m in (*original.modules(), *converted.modules())]
    try:
        original.eval()
        converted.eval()
        expected, got = original(x), converted(x)
    finally:
        for module, training in modes:
            module.training = training
    if not isinstance(expected, torch.Tensor) or not isinstance(got, torch.Tensor):
        return 0.0 if expected is got else float("nan")
    if expected.shape != got.shape:
        raise OneByOneError(
            f"internal error: the converted model returns {tuple(got.shape)}, "
            f"the original {tuple(expected.shape)}"
        )
    return (expected.float() - got.float()).abs().max().item()
