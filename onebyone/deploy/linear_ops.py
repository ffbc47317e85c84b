"""Which nodes of a torch.fx graph compute a linear map of one image input, and as what kernel.

Recognised by what they compute, not by class name: a Conv2d (a subclass only when a probe shows it
computes nn.Conv2d's result), an eval-mode batch norm, an identity (nn.Identity, dropout in eval,
contiguous/clone), an average pool whose divisor is always k² (no ceil mode, padding counted), a
product with a per-channel or scalar constant (layer scale), a negation. `chain` walks back from a
node through such ops, each read by nothing else, to the input they all apply to; `sum_terms`
flattens a tree of + and − (through constant scales) into the terms that add up to its value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from onebyone.deploy import kernels
from onebyone.deploy.kernels import Kernel
from onebyone.graph import layer_kinds

_ADDS = {operator.add, operator.iadd, torch.add}
_SUBS = {operator.sub, operator.isub, torch.sub}
_MULS = {operator.mul, operator.imul, torch.mul}
_IDENTITY_METHODS = {"contiguous", "clone"}
_AVG_POOLS = {F.avg_pool2d, torch._C._nn.avg_pool2d}


@dataclass
class LinearOp:
    """One node's linear map: `kernel(channels)` builds it (channels: the image's, for ops that keep them)."""

    node: fx.Node | None  # None for the negation a subtraction applies to its right-hand side
    kind: str  # "conv", "norm", "identity", "pool" or "scale"
    kernel: Callable[[int], Kernel]
    in_channels: int | None  # known from the op itself (a conv's or batch norm's), else None
    module: str | None = None  # the call_module target it runs, if any
    stride: tuple[int, int] = (1, 1)


@dataclass
class Term:
    """One addend of a sum tree: `chain` applied to `source`, then `outer` (signs and constant scales)."""

    source: fx.Node
    chain: list[LinearOp]
    outer: list[LinearOp] = field(default_factory=list)
    node: fx.Node | None = None  # the addend as it stands in the graph (the chain's last node, or source)

    @property
    def ops(self) -> list[LinearOp]:
        return self.chain + self.outer


def data_input(node: fx.Node) -> fx.Node | None:
    """The one tensor input of a single-input op: the node argument that is not a constant."""
    inputs = [n for n in node.all_input_nodes if constant(n, None) is None]
    return inputs[0] if len(inputs) == 1 else None


def constant(node: object, root: nn.Module | None) -> Tensor | float | None:
    """The value of a node computed from attributes and literals alone (a layer scale's view), else None."""
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return node
    if not isinstance(node, fx.Node):
        return None
    if node.op == "get_attr":
        if root is None:
            return 0.0  # "is constant" queries pass no root
        value = root
        for part in node.target.split("."):
            value = getattr(value, part)
        return value.detach() if isinstance(value, Tensor) else None
    if node.op not in ("call_method", "call_function") or not node.all_input_nodes:
        return None
    if any(n.op in ("placeholder", "call_module") for n in node.all_input_nodes):
        return None
    if any(constant(n, None) is None for n in node.all_input_nodes):
        return None
    if root is None:
        return 0.0
    args = fx.node.map_arg(node.args, lambda n: constant(n, root))
    kwargs = fx.node.map_arg(node.kwargs, lambda n: constant(n, root))
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    return node.target(*args, **kwargs)


def linear_op(node: fx.Node, root: nn.Module) -> LinearOp | None:
    """`node` as a linear map of its one tensor input, or None if it is not one (or not exactly)."""
    if node.op == "call_module":
        return _module_op(node, root.get_submodule(node.target))
    if node.op == "call_method" and node.target in _IDENTITY_METHODS and len(node.args) == 1:
        return LinearOp(node, "identity", kernels.identity, None)
    if node.op == "call_function" and node.target is F.dropout:
        training = node.kwargs.get("training", node.args[2] if len(node.args) > 2 else True)
        return LinearOp(node, "identity", kernels.identity, None) if training is False else None
    if node.op == "call_function" and node.target in _AVG_POOLS:
        names = (
            "input",
            "kernel_size",
            "stride",
            "padding",
            "ceil_mode",
            "count_include_pad",
            "divisor_override",
        )
        given = {**dict(zip(names, node.args, strict=False)), **node.kwargs}
        return _pool_op(node, given)
    if node.op == "call_function" and node.target in (operator.neg, torch.neg):
        return _scale_op(node, -1.0)
    if (node.op == "call_function" and node.target in _MULS) or (
        node.op == "call_method" and node.target in ("mul", "mul_")
    ):
        if len(node.args) != 2 or node.kwargs:
            return None
        values = [constant(a, root) for a in node.args]
        if (values[0] is None) == (values[1] is None):
            return None
        return _scale_op(node, values[0] if values[0] is not None else values[1])
    return None


def _module_op(node: fx.Node, module: nn.Module) -> LinearOp | None:
    if isinstance(module, nn.Conv2d):
        return _conv_op(node, module)
    if isinstance(module, nn.BatchNorm2d) and isinstance(layer_kinds.batch_norm_then(module), nn.Identity):
        return LinearOp(
            node, "norm", lambda _c, m=module: kernels.batch_norm(m), module.num_features, node.target
        )
    if isinstance(module, _BatchNorm):
        return None
    if type(module) is nn.Identity or (type(module) in (nn.Dropout, nn.Dropout2d) and not module.training):
        return LinearOp(node, "identity", kernels.identity, None, node.target)
    if type(module) is nn.AvgPool2d:
        settings = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
        op = _pool_op(node, {name: getattr(module, name) for name in settings})
        if op is not None:
            op.module = node.target
        return op
    return None


def _pair(value: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value) * (2 // len(value))


def _conv_op(node: fx.Node, conv: nn.Conv2d) -> LinearOp | None:
    if conv.padding_mode != "zeros" or tuple(conv.dilation) != (1, 1) or conv.weight.is_meta:
        return None
    if type(conv).forward is not nn.Conv2d.forward:
        x = torch.randn(1, conv.in_channels, 9, 10, generator=torch.Generator().manual_seed(0)).to(
            conv.weight
        )
        if not layer_kinds.computes_like(conv, lambda v: nn.Conv2d.forward(conv, v), x):
            return None
    if conv.padding == "valid":
        padding = (0, 0)
    elif conv.padding == "same":
        if tuple(conv.stride) != (1, 1) or any(k % 2 == 0 for k in conv.kernel_size):
            return None
        padding = tuple(k // 2 for k in conv.kernel_size)
    else:
        padding = tuple(conv.padding)

    def kernel(_channels: int) -> Kernel:
        found = kernels.from_conv(conv)
        found.padding = padding
        return found

    return LinearOp(node, "conv", kernel, conv.in_channels, node.target, tuple(conv.stride))


def _pool_op(node: fx.Node, given: dict) -> LinearOp | None:
    size = _pair(given.get("kernel_size"))
    stride = _pair(given.get("stride") or size)
    padding = _pair(given.get("padding", 0))
    if given.get("ceil_mode", False) or given.get("divisor_override") is not None:
        return None  # the divisor changes at the border: not one kernel
    if not given.get("count_include_pad", True) and padding != (0, 0):
        return None
    return LinearOp(node, "pool", lambda c: kernels.avg_pool(c, size, stride, padding), None, stride=stride)


def _scale_op(node: fx.Node, value: Tensor | float) -> LinearOp | None:
    if isinstance(value, Tensor):
        if value.dim() > 4 or any(s != 1 for i, s in enumerate(value.shape[::-1]) if i != 2):
            return None  # only (C, 1, 1), (1, C, 1, 1) or a scalar scale each channel alone
        if value.dim() < 3 and value.numel() != 1:
            return None
        vector = value.reshape(-1).double()
    else:
        vector = torch.tensor([float(value)], dtype=torch.float64)
    channels = vector.numel() if vector.numel() > 1 else None

    def kernel(c: int) -> Kernel:
        scale = vector.expand(c) if vector.numel() == 1 else vector
        return kernels.diagonal(scale, torch.zeros(c, dtype=torch.float64))

    return LinearOp(node, "scale", kernel, channels)


def is_add(node: fx.Node) -> bool:
    if node.op == "call_function" and node.target in _ADDS:
        return "alpha" not in node.kwargs and len(node.args) == 2
    return (
        node.op == "call_method"
        and node.target in ("add", "add_")
        and not node.kwargs
        and len(node.args) == 2
    )


def is_sub(node: fx.Node) -> bool:
    if node.op == "call_function" and node.target in _SUBS:
        return "alpha" not in node.kwargs and len(node.args) == 2
    return (
        node.op == "call_method"
        and node.target in ("sub", "sub_")
        and not node.kwargs
        and len(node.args) == 2
    )


def chain(
    end: fx.Node, root: nn.Module, usable: Callable[[LinearOp], bool]
) -> tuple[fx.Node, list[LinearOp]]:
    """(source, ops): the linear ops that lead from `source` to `end`, each read only by the next."""
    ops: list[LinearOp] = []
    node = end
    while True:
        op = linear_op(node, root)
        if op is None or not usable(op) or (ops and len(node.users) != 1):
            return node, ops
        previous = data_input(node)
        if previous is None:
            return node, ops
        ops.insert(0, op)
        node = previous


def sum_terms(
    root_node: fx.Node, root: nn.Module, usable: Callable[[LinearOp], bool]
) -> tuple[list[Term], list, list[fx.Node]]:
    """The addends of the +/− tree at `root_node` (inner sums read once), its constant addends, and
    the tree's own nodes (its sums and the scales distributed over them, `root_node` first)."""
    terms: list[Term] = []
    constants: list = []
    inner_nodes: list[fx.Node] = []
    negate = LinearOp(None, "scale", lambda c: kernels.diagonal(-torch.ones(c), torch.zeros(c)), None)

    def walk(value: object, outer: list[LinearOp], top: bool) -> None:
        if not isinstance(value, fx.Node):
            constants.append(value)
            return
        inner = top or len(value.users) == 1
        if inner and (is_add(value) or is_sub(value)):
            inner_nodes.append(value)
            walk(value.args[0], outer, False)
            walk(value.args[1], ([negate] if is_sub(value) else []) + outer, False)
            return
        # Scales and identities over a sum distribute over its addends: ls·(a − b) = ls·a − ls·b.
        over, inside = [], value
        while inner and inside is not None and not (is_add(inside) or is_sub(inside)):
            op = linear_op(inside, root)
            if op is None or op.kind not in ("scale", "identity") or not usable(op) or len(inside.users) != 1:
                break
            over.insert(0, op)
            inside = data_input(inside)
        if over and inside is not None and (is_add(inside) or is_sub(inside)) and len(inside.users) == 1:
            inner_nodes.extend(op.node for op in over)
            walk(inside, [*over, *outer], False)
            return
        if top:  # the root itself is no sum
            return
        if not inner:
            terms.append(Term(value, [], outer, value))
            return
        source, ops = chain(value, root, usable)
        terms.append(Term(source, ops, outer, value))

    walk(root_node, [], True)
    return terms, constants, inner_nodes


def run_op(op: LinearOp, x: Tensor, root: nn.Module) -> Tensor:
    """What `op`'s node computes on `x` in place of its tensor input (for probe checks)."""
    if op.node is None:
        return -x
    node, data = op.node, data_input(op.node)
    args = fx.node.map_arg(node.args, lambda n: x.clone() if n is data else constant(n, root))
    kwargs = fx.node.map_arg(node.kwargs, lambda n: x.clone() if n is data else constant(n, root))
    if node.op == "call_module":
        return root.get_submodule(node.target)(*args, **kwargs)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    return node.target(*args, **kwargs)
