"""What the head rewrites (`fc_to_conv`, class activation maps) need to know about a traced graph.

A model is traced with torch.fx (`layer_kinds.trace`: conv, linear, norm and activation modules
stay whole, subclasses too) and run once at a given input size to record every node's output
shape. The helpers below then classify nodes by what they do to a feature map: flatten it, pool
it globally, act on each element (or each channel) alike, or act on each position alike. Lookup
tables, not isinstance chains, say which modules and functions are which.
"""

from __future__ import annotations

import contextlib
import copy
import io
import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from onebyone.errors import OneByOneError
from onebyone.graph import layer_kinds
from onebyone.models.loading import one_line
from onebyone.profiling.probe import probe_forward

# Ops that only reshape: a flatten of an (N, C, H, W) map, or a no-op reshape of an (N, F) vector.
RESHAPE_MODULES = (nn.Flatten, nn.Unflatten)
RESHAPE_FUNCTIONS = (torch.flatten, torch.reshape)
RESHAPE_METHODS = ("view", "reshape", "flatten")
# Global pooling, by kind: "avg" or "max".
POOL_MODULES: dict[type, str] = {
    nn.AdaptiveAvgPool2d: "avg",
    nn.AvgPool2d: "avg",
    nn.AdaptiveMaxPool2d: "max",
    nn.MaxPool2d: "max",
}
POOL_FUNCTIONS: dict[object, str] = {
    F.adaptive_avg_pool2d: "avg",
    F.avg_pool2d: "avg",
    torch.mean: "avg",
    F.adaptive_max_pool2d: "max",
    F.max_pool2d: "max",
    torch.amax: "max",
}
POOL_METHODS: dict[str, str] = {"mean": "avg", "amax": "max"}
ADAPTIVE_MODULES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
ADAPTIVE_FUNCTIONS = (F.adaptive_avg_pool2d, F.adaptive_max_pool2d)
SCALAR_ARITHMETIC = (operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.mul)


class TracedModel:
    """A traced copy of a model, with the output shape of every node at one input size."""

    def __init__(self, model: nn.Module, input_shape: Sequence[int]) -> None:
        if not isinstance(model, nn.Module):
            raise OneByOneError(f"expected an nn.Module, got {type(model).__name__}")
        shape = tuple(int(d) for d in input_shape)
        if len(shape) == 3:
            shape = (1, *shape)
        if len(shape) != 4 or any(d < 1 for d in shape):
            raise OneByOneError(f"input shape must be (C, H, W) or (N, C, H, W), got {tuple(input_shape)}")
        self.name = type(model).__name__
        self.input_shape = shape
        self.training = model.training
        probe_forward(model, shape)  # a model that cannot run on the input, or returns no tensor: one line
        try:
            self.module = layer_kinds.trace(copy.deepcopy(model))
        except Exception as exc:  # fx raises many types for untraceable Python (control flow on values)
            raise OneByOneError(
                f"cannot trace {self.name} with torch.fx ({one_line(exc)}); "
                "write the model as an nn.Sequential or without control flow on tensor values"
            ) from exc
        self.module.eval()
        try:  # ShapeProp prints a traceback of its own before it raises: keep it off the terminal
            with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
                ShapeProp(self.module).propagate(torch.zeros(shape))
        except Exception as exc:
            raise OneByOneError(
                f"{self.name} does not run on an input of shape {shape} when traced: {one_line(exc)}"
            ) from exc
        self.modules = dict(self.module.named_modules())

    def shape(self, node: fx.Node) -> tuple[int, ...] | None:
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None

    def target_module(self, node: fx.Node) -> nn.Module | None:
        return self.modules.get(node.target) if node.op == "call_module" else None

    def describe(self, node: fx.Node) -> str:
        """A node as a user knows it: the module path and type, or the function called."""
        module = self.target_module(node)
        if module is not None:
            return f"{node.target} ({type(module).__name__})"
        if node.op == "call_function":
            what = f"{getattr(node.target, '__name__', node.target)}()"
        elif node.op == "call_method":
            what = f".{node.target}()"
        else:
            return node.name
        stack = node.meta.get("nn_module_stack")
        if stack:  # the innermost module whose forward made the call
            path, kind = list(stack.values())[-1]
            return f"{what} in {path} ({getattr(kind, '__name__', kind)})"
        return f"{what} at {node.name}"

    def tensor_inputs(self, node: fx.Node) -> list[fx.Node]:
        return [a for a in node.all_input_nodes if self.shape(a) is not None]

    def is_linear(self, node: fx.Node) -> bool:
        """A linear layer (subclasses that compute one included) applied to (N, F) vectors."""
        inputs = self.tensor_inputs(node)
        return self.is_any_linear(node) and len(inputs) == 1 and len(self.shape(inputs[0])) == 2

    def is_any_linear(self, node: fx.Node) -> bool:
        return layer_kinds.is_linear(self.target_module(node))

    def is_position_wise_linear(self, node: fx.Node) -> bool:
        """A linear layer on the last axis of an (N, …, C) tensor: a 1×1 conv on channels-last maps."""
        inputs = self.tensor_inputs(node)
        return self.is_any_linear(node) and len(inputs) == 1 and len(self.shape(inputs[0])) > 2

    def elementwise(self, node: fx.Node) -> bool | None:
        """None: not element-wise; True: element-wise and affine; False: element-wise, not affine."""
        module = self.target_module(node)
        if module is not None:
            found = layer_kinds.elementwise(module)
        elif node.op == "call_function":
            found = layer_kinds.ELEMENTWISE_FUNCTIONS.get(node.target)
        elif node.op == "call_method":
            found = layer_kinds.ELEMENTWISE_METHODS.get(node.target)
        else:
            found = None
        return None if found is None else found.affine

    def is_pointwise_conv(self, node: fx.Node) -> bool:
        """A 1×1 conv with stride 1 and no padding (subclasses that compute one included): a linear
        map of the channels at each position, such as timm's conv classifiers after global pooling."""
        module, inputs = self.target_module(node), self.tensor_inputs(node)
        if not isinstance(module, nn.Conv2d) or len(inputs) != 1 or len(self.shape(inputs[0])) != 4:
            return False
        plain = layer_kinds.plain_conv2d(module, self.shape(inputs[0]))
        return (
            plain is not None
            and plain.pad is None
            and plain.conv.kernel_size == (1, 1)
            and plain.conv.stride == (1, 1)
            and plain.conv.padding == (0, 0)
        )

    def is_position_wise(self, node: fx.Node) -> bool:
        """An op on an (N, C, H, W) map that computes each position from that position alone:
        element-wise ops, batch norm, 1×1 convs with stride 1, a LayerNorm over the channels."""
        inputs = self.tensor_inputs(node)
        if len(inputs) != 1 or self.shape(inputs[0]) is None or len(self.shape(inputs[0])) != 4:
            return False
        if self.elementwise(node) is not None or self.is_scalar_arithmetic(node):
            return True
        module = self.target_module(node)
        channels = self.shape(inputs[0])[1]
        if isinstance(module, nn.BatchNorm2d):
            then = layer_kinds.batch_norm_then(module)
            return then is not None and all(
                layer_kinds.elementwise(m) is not None
                for m in then.modules()
                if not isinstance(m, nn.Sequential)
            )
        if self.is_pointwise_conv(node):
            return True
        return layer_kinds.normalizes_channels(module, channels)

    def is_scalar_arithmetic(self, node: fx.Node) -> bool:
        """`x + 1`, `2 * x`: arithmetic whose only tensor operand is one node."""
        return (
            node.op == "call_function"
            and node.target in SCALAR_ARITHMETIC
            and len(self.tensor_inputs(node)) == 1
        )

    def is_reshape(self, node: fx.Node) -> bool:
        module = self.target_module(node)
        if module is not None:
            return isinstance(module, RESHAPE_MODULES)
        return (node.op == "call_function" and node.target in RESHAPE_FUNCTIONS) or (
            node.op == "call_method" and node.target in RESHAPE_METHODS
        )

    def flattened_map(self, node: fx.Node) -> tuple[int, int, int] | None:
        """(C, H, W) when `node` flattens an (N, C, H, W) map into (N, C·H·W)."""
        inputs = self.tensor_inputs(node)
        if not self.is_reshape(node) or len(inputs) != 1:
            return None
        before, after = self.shape(inputs[0]), self.shape(node)
        if before is None or after is None or len(before) != 4 or len(after) != 2:
            return None
        n, c, h, w = before
        return (c, h, w) if after == (n, c * h * w) else None

    def keeps_vector(self, node: fx.Node) -> bool:
        """A reshape that leaves an (N, F) tensor as it is (e.g. nn.Flatten after global pooling)."""
        inputs = self.tensor_inputs(node)
        if not self.is_reshape(node) or len(inputs) != 1:
            return False
        before, after = self.shape(inputs[0]), self.shape(node)
        return before is not None and len(before) == 2 and before == after

    def global_pool(self, node: fx.Node) -> str | None:
        """ "avg" or "max" when `node` pools each channel of an (N, C, H, W) map to one value."""
        inputs = self.tensor_inputs(node)
        if len(inputs) != 1:
            return None
        before, after = self.shape(inputs[0]), self.shape(node)
        if (
            before is None
            or after is None
            or len(before) != 4
            or after not in (before[:2], (*before[:2], 1, 1))
        ):
            return None
        module = self.target_module(node)
        if module is not None:
            kind = layer_kinds.lookup(POOL_MODULES, module)
            if kind is not None and not isinstance(module, ADAPTIVE_MODULES):
                # A fixed window is global only when it is exactly the map (Caffe NIN's 6×6 pool4).
                covers = _pair(module.kernel_size) == before[2:] and _pair(module.padding) == (0, 0)
                return kind if covers else None
            return kind
        if node.op == "call_function":
            kind = POOL_FUNCTIONS.get(node.target)
        elif node.op == "call_method":
            kind = POOL_METHODS.get(node.target)
        else:
            return None
        if kind is None:
            return None
        if node.target in (torch.mean, torch.amax, "mean", "amax"):
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
            return kind if sorted(d % 4 for d in dims) == [2, 3] else None
        if node.target in (F.avg_pool2d, F.max_pool2d):
            kernel = node.args[1] if len(node.args) > 1 else node.kwargs.get("kernel_size")
            padding = node.args[3] if len(node.args) > 3 else node.kwargs.get("padding", 0)
            covers = _pair(kernel) == before[2:] and _pair(padding) == (0, 0)
            return kind if covers else None
        return kind

    def identity_pool(self, node: fx.Node) -> bool:
        """An adaptive pool whose output size equals its input size here (AlexNet's 6×6 at 224)."""
        module = self.target_module(node)
        adaptive = isinstance(module, ADAPTIVE_MODULES) or (
            node.op == "call_function" and node.target in ADAPTIVE_FUNCTIONS
        )
        inputs = self.tensor_inputs(node)
        return (
            adaptive
            and len(inputs) == 1
            and self.shape(inputs[0]) is not None
            and self.shape(inputs[0]) == self.shape(node)
        )


def _pair(value) -> tuple:
    if isinstance(value, int):
        return (value, value)
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
