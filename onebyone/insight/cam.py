"""Class activation maps (Zhou et al., "Learning Deep Features for Discriminative Localization", 2016).

With global average pooling, a class score is the spatial mean of something computed at every
position; that something is the class activation map (claim C14). In a NIN the last 1×1 conv
already outputs one map per class, so its output is the map. With GAP followed by a linear layer,
the map is the linear layer applied at every position: M_c(y, x) = Σ_k w_ck f_k(y, x) + b_c. With
the bias included, the spatial mean of M_c is exactly the logit of class c.

The maps come from the network itself, rewritten with torch.fx: the global pool is dropped and
the linear layers after it become 1×1 convs (see `onebyone.surgery.heads`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, fx, nn

from onebyone.errors import OneByOneError
from onebyone.graph.functional_heads import lift_functional_linears
from onebyone.graph.trace import TracedModel
from onebyone.surgery.heads import FcToConvResult, convert_fc_layers, rewrite_head, vector_if_single_cell


def gap_class_map_network(model: nn.Module, input_shape: Sequence[int]) -> nn.Module:
    """A copy of a GAP network that returns its class maps (N, num_classes, h, w) instead of scores.

    Between the pool and the scores there may be linear layers, 1×1 convs, batch norm on vectors,
    dropout and reshapes: all linear, so the mean of their maps is their output on the mean.

    Raises OneByOneError, naming the layer, when the scores are not a spatial mean of maps: an FC
    head on a flattened map, a non-linearity after the pool, global max pooling.
    """
    traced = TracedModel(model, input_shape)
    unconvertible = lift_functional_linears(traced)  # a head written as F.linear(x, W, b) or x @ W + b
    output = next(n for n in traced.module.graph.nodes if n.op == "output")
    node = output.args[0]
    scores_shape = traced.shape(node) if isinstance(node, fx.Node) else None
    if not isinstance(node, fx.Node) or scores_shape is None or len(scores_shape) != 2:
        raise OneByOneError(
            f"class activation maps need a model that returns (N, num_classes) scores; {traced.name} does not"
        )
    marked: set[fx.Node] = set()
    while True:
        inputs = traced.tensor_inputs(node)
        kind = traced.global_pool(node)
        module = traced.target_module(node)
        if kind == "avg":
            marked.add(node)
            break
        if kind == "max":
            raise OneByOneError(
                f"{traced.name}: {traced.describe(node)} is global max pooling; class activation maps "
                "need global average pooling (a score that is the mean of a map)"
            )
        if node.op == "call_function" and node.target is vector_if_single_cell and len(inputs) == 1:
            node = inputs[0]  # the reshape `convert fc2conv` ends with: (N, K, 1, 1) → (N, K)
            continue
        whole = _whole_map_conv(traced, node)
        if whole:
            raise OneByOneError(
                f"{traced.name} has no global-average-pooling head: {traced.describe(node)} is {whole} "
                "(a fully connected layer written as a conv, as `convert fc2conv` writes it), so the scores "
                "are not a spatial mean of class maps and there are no class activation maps; "
                "`onebyone inspect dense` draws its class map over a larger input"
            )
        flattened = traced.flattened_map(node)
        if flattened is not None and flattened[1:] != (1, 1):
            raise OneByOneError(
                f"{traced.name} has no global-average-pooling head: {traced.describe(node)} flattens a "
                f"{'×'.join(map(str, flattened))} map into a fully connected layer, so there are no class "
                "activation maps (convert it with `onebyone convert fc2conv`, and `onebyone inspect dense` "
                "draws the converted model's class map)"
            )
        passes = (
            flattened is not None
            or traced.keeps_vector(node)
            or traced.is_linear(node)
            or isinstance(module, nn.BatchNorm1d)
            or traced.elementwise(node) is True
            or traced.is_pointwise_conv(node)  # a conv classifier after the pool (timm's DLA, BiT)
        )
        if node in unconvertible:
            raise OneByOneError(f"{traced.name} has no class activation maps: {unconvertible[node]}")
        if not passes or len(inputs) != 1:
            why = "is not linear" if traced.elementwise(node) is False else "is not a pooling or linear layer"
            raise OneByOneError(
                f"{traced.name} has no global-average-pooling head: {traced.describe(node)} {why}, so the "
                "scores are not a spatial mean of class maps"
            )
        if flattened is not None:
            marked.add(node)
        node = inputs[0]
    result = FcToConvResult(traced.module, traced.input_shape)
    rewrite_head(traced, marked, pool="remove", result=result, unconvertible=unconvertible)
    return traced.module.train(traced.training)


def _converted_already(model: nn.Module, input_shape: Sequence[int]) -> bool:
    """Whether `model` is what `convert fc2conv` writes: its output is `vector_if_single_cell` of a map
    from a conv over the whole map (a GAP network converted the same way keeps its CAM instead)."""
    if not isinstance(model, fx.GraphModule):
        return False
    traced = TracedModel(model, input_shape)
    output = next(n for n in traced.module.graph.nodes if n.op == "output").args[0]
    if not (isinstance(output, fx.Node) and output.target is vector_if_single_cell):
        return False
    inputs = traced.tensor_inputs(output)
    return len(inputs) == 1 and _whole_map_conv(traced, inputs[0]) is not None


def _whole_map_conv(traced: TracedModel, node: fx.Node) -> str | None:
    """'a 7×7 conv over the whole 32×7×7 map' when `node` is a conv (not 1×1) whose kernel covers all of
    its input, leaving one cell; else None."""
    module = traced.target_module(node)
    inputs = traced.tensor_inputs(node)
    if not isinstance(module, nn.Conv2d) or module.kernel_size == (1, 1) or len(inputs) != 1:
        return None
    before, after = traced.shape(inputs[0]), traced.shape(node)
    if before is None or after is None or len(before) != 4 or tuple(after[2:]) != (1, 1):
        return None
    if tuple(before[2:]) != tuple(module.kernel_size):
        return None
    kernel = "×".join(map(str, module.kernel_size))
    return f"a {kernel} conv over the whole {'×'.join(map(str, before[1:]))} map"


def class_activation_maps(model: nn.Module, images: Tensor) -> Tensor:
    """(N, num_classes, h, w) class activation maps of a GAP network, in eval mode.

    For a NIN this is the output of its last 1×1 conv layer (after its ReLU); for GAP + linear, the
    linear weights and bias applied to the last feature maps. The spatial mean of each map equals
    the model's logit for that class.

    Args:
        model: a torch.fx-traceable network whose scores are a global average pool of maps,
            optionally followed by linear layers, dropout or batch norm.
        images: (N, C, H, W) float, preprocessed as the model expects.
    """
    if not isinstance(images, Tensor) or images.dim() != 4:
        raise OneByOneError("images must be a float tensor (N, C, H, W)")
    network = gap_class_map_network(model, (1, *images.shape[1:])).eval()
    with torch.no_grad():
        return network(images)


def class_map_network(model: nn.Module, input_shape: Sequence[int]) -> tuple[nn.Module, str]:
    """A network that returns a class map for any input at least `input_shape` large, and how.

    A GAP network is fully convolutional already: its class activation maps. Any other network is
    converted with `fc_to_conv` at `input_shape` (the size its linear layers were built for).
    Returns (network, "class activation maps" | "fc_to_conv").
    """
    if _converted_already(model, input_shape):  # `convert fc2conv`'s output: a class map on larger inputs
        return model, "fc_to_conv"
    try:
        return gap_class_map_network(model, input_shape), "class activation maps"
    except OneByOneError as gap_error:
        try:
            converted: FcToConvResult = convert_fc_layers(model, input_shape)
        except OneByOneError as fc_error:
            raise OneByOneError(
                f"no class map for {type(model).__name__}: {gap_error}; and {fc_error}"
            ) from None
        return converted.model, "fc_to_conv"
