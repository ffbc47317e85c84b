"""Linear heads written as functions (F.linear, torch.matmul, x @ W, addmm) made nn.Linear modules.

The head rewrites (`heads.convert_fc_layers`, class activation maps) recognise a linear layer by
its module. A head that calls `F.linear(x, self.weight, self.bias)` or `x @ self.W + self.b` is the
same linear map, so in the traced graph each such call on (N, F) vectors is replaced by a call to a
new nn.Linear holding those parameters (copied, transposed where the call multiplies by W ᵀ's
layout); a bias added right after (`x @ W + b`) goes into the module too. The weight must be a
parameter or buffer of the model, possibly transposed (`.t()`, `.T`, `.transpose(0, 1)`): a
matrix computed in the forward (`x @ (self.W * mask)`) has no fixed kernel to give a conv, and
the call is reported, with that reason, instead of converted.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from onebyone.graph.trace import TracedModel

LINEAR_FUNCTIONS = (F.linear,)
MATMUL_FUNCTIONS = (operator.matmul, torch.matmul, torch.mm)
MATMUL_METHODS = ("matmul", "mm")
TRANSPOSES = ("t", "transpose", "permute")


def lift_functional_linears(traced: TracedModel) -> dict[fx.Node, str]:
    """Rewrite `traced.module` in place: each functional linear map on (N, F) vectors whose
    weight is a parameter becomes an nn.Linear call. Returns, for the vector products that could
    not be rewritten, why (one clause each, naming the call)."""
    reasons: dict[fx.Node, str] = {}
    graph = traced.module.graph
    for node in list(graph.nodes):
        parts = _linear_parts(traced, node)
        if parts is None:
            continue
        vector, weight_node, layout, bias_node = parts
        weight = _constant(traced, weight_node)
        if weight is None or weight[0].dim() != 2:
            reasons[node] = (
                f"{traced.describe(node)} multiplies by {_what(traced, weight_node)}, not by a 2-D "
                "parameter of the model, so there is no fixed kernel for a conv (fc2conv needs the "
                "head's weights as nn.Parameter attributes)"
            )
            continue
        matrix, transposed, weight_name = weight
        if layout == "in_out":  # x @ M: the linear weight is Mᵀ
            transposed = not transposed
        out_in = matrix.t() if transposed else matrix
        bias, absorbed = _bias(traced, node, bias_node, out_in.shape[0])
        if bias is False:
            reasons[node] = (
                f"{traced.describe(node)} adds a bias that is {_what(traced, bias_node)}, not a "
                f"parameter of {out_in.shape[0]} values, so it cannot become the conv's bias"
            )
            continue
        linear = nn.Linear(out_in.shape[1], out_in.shape[0], bias=bias is not None)
        linear = linear.to(device=matrix.device, dtype=matrix.dtype)
        with torch.no_grad():
            linear.weight.copy_(out_in)
            if bias is not None:
                linear.bias.copy_(bias)
        linear.weight.requires_grad_(matrix.requires_grad)
        name = _free_name(traced.module, f"{weight_name.replace('.', '_')}_as_linear")
        traced.module.add_submodule(name, linear)
        replaced = absorbed or node
        with graph.inserting_before(replaced):
            call = graph.call_module(name, (vector,))
        call.meta = dict(replaced.meta)
        replaced.replace_all_uses_with(call)
        graph.erase_node(replaced)
        if absorbed is not None:
            graph.erase_node(node)
    graph.eliminate_dead_code()
    graph.lint()
    traced.module.recompile()
    traced.modules = dict(traced.module.named_modules())
    return reasons


def _linear_parts(traced: TracedModel, node: fx.Node):
    """(vector input, weight node, "out_in" | "in_out", bias node or None) when `node` is a linear
    map of an (N, F) vector written as a function; None otherwise."""
    if node.op == "call_function" and node.target in LINEAR_FUNCTIONS:
        args = list(node.args) + [None] * 3
        vector = args[0]
        weight = args[1] if args[1] is not None else node.kwargs.get("weight")
        bias = args[2] if args[2] is not None else node.kwargs.get("bias")
        layout = "out_in"
    elif node.kwargs and node.target is not F.linear:
        return None  # addmm's beta/alpha, matmul's out=: not a plain linear map
    elif node.op == "call_function" and node.target is torch.addmm and len(node.args) == 3:
        bias, vector, weight = node.args
        layout = "in_out"
    elif (node.op == "call_function" and node.target in MATMUL_FUNCTIONS) or (
        node.op == "call_method" and node.target in MATMUL_METHODS
    ):
        if len(node.args) != 2:
            return None
        vector, weight = node.args
        bias, layout = None, "in_out"
    else:
        return None
    if not isinstance(vector, fx.Node) or not isinstance(weight, fx.Node):
        return None
    shape = traced.shape(vector)
    if shape is None or len(shape) != 2:
        return None
    if _constant(traced, vector) is not None:  # W @ x with the parameter first: not a head
        return None
    return vector, weight, layout, bias


def _constant(traced: TracedModel, node) -> tuple[torch.Tensor, bool, str] | None:
    """(parameter or buffer, transposed?, its name) when `node` is one, possibly transposed."""
    transposed = False
    while isinstance(node, fx.Node):
        if node.op == "get_attr":
            value = _attribute(traced.module, node.target)
            return (value.detach(), transposed, node.target) if isinstance(value, torch.Tensor) else None
        if node.op == "call_method" and node.target in TRANSPOSES and _swaps_2d(node.target, node.args[1:]):
            transposed = not transposed
        elif node.op == "call_function" and node.target is torch.t:
            transposed = not transposed
        elif not (
            node.op == "call_function" and node.target is getattr and node.args[1:] in (("T",), ("mT",))
        ):
            return None
        else:
            transposed = not transposed
        node = node.args[0]
    return None


def _swaps_2d(method: str, args: tuple) -> bool:
    if method == "t":
        return True
    if method == "transpose":
        return sorted(a % 2 for a in args) == [0, 1] if len(args) == 2 else False
    flat = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    return tuple(a % 2 for a in flat) == (1, 0)


def _bias(traced: TracedModel, node: fx.Node, bias_node, out_features: int):
    """The bias of the map: its own argument, or a parameter added right after (`x @ W + b`), with
    the add node it absorbs; False when its own bias argument is not such a parameter."""
    if bias_node is not None:
        found = _constant(traced, bias_node)
        return (found[0] if found and found[0].shape == (out_features,) else False), None
    users = list(node.users)
    if len(users) == 1 and users[0].op == "call_function" and users[0].target in (operator.add, torch.add):
        add = users[0]
        others = [a for a in add.args if a is not node]
        if len(add.args) == 2 and len(others) == 1 and not add.kwargs:
            found = _constant(traced, others[0])
            if found is not None and found[0].shape == (out_features,):
                return found[0], add
    return None, None


def _attribute(module: nn.Module, target: str):
    for part in target.split("."):
        module = getattr(module, part, None)
    return module


def _what(traced: TracedModel, node) -> str:
    if isinstance(node, fx.Node):
        return f"a tensor computed in the forward ({traced.describe(node)})"
    return "a value that is not a tensor of the model"


def _free_name(module: nn.Module, base: str) -> str:
    names = dict(module.named_modules())
    name, index = base, 1
    while name in names:
        index += 1
        name = f"{base}{index}"
    return name
