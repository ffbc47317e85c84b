"""Fold a BatchNorm1d into the Linear beside it, where the two act on the same axis.

An eval-mode batch norm on an (N, C) input is y = s⊙x + t per feature (s = γ/√(σ²+ε),
t = β − μs), and a Linear mixes those same features, so BN then Linear is one Linear,
W·diag(s) x + (Wt + b), and Linear then BN is one too, diag(s)·W x + (s⊙b + t) (RepViT's
classifier head, timm's NormLinear). On an (N, C, L) input the batch norm scales dim 1 while
the Linear mixes dim 2, the last: no Linear computes that, and the graph alone cannot tell the
two cases apart, so a fold needs the shape the norm sees, from a run of an example input. Each
fold is checked on a probe of that shape, as the conv fold is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from onebyone.graph import layer_kinds


@dataclass(frozen=True)
class NormLinearPair:
    """A batch norm and the Linear that reads its output (norm_first) or writes its input."""

    linear: str
    norm: str
    norm_first: bool


def pairs_from_graph(model: nn.Module, graph: fx.Graph, calls: dict[str, int]) -> list[NormLinearPair]:
    """(Linear, batch norm) neighbours in `graph`: the one's output read by the other alone, each
    module called once (a module called twice would be folded for one call and wrong for the other)."""
    found: list[NormLinearPair] = []
    used: set[str] = (
        set()
    )  # a norm between two Linears folds into the first found; a Linear takes one each side
    for node in graph.nodes:
        source = node.args[0] if node.op == "call_module" and node.args else None
        if not isinstance(source, fx.Node) or source.op != "call_module" or len(source.users) != 1:
            continue
        first_name, second_name = str(source.target), str(node.target)
        first, second = model.get_submodule(first_name), model.get_submodule(second_name)
        if isinstance(first, nn.Linear) and _is_norm(second):
            pair = NormLinearPair(first_name, second_name, norm_first=False)
        elif _is_norm(first) and isinstance(second, nn.Linear):
            pair = NormLinearPair(second_name, first_name, norm_first=True)
        else:
            continue
        if calls[first_name] == 1 and calls[second_name] == 1 and pair.norm not in used:
            found.append(pair)
            used.add(pair.norm)
    return found


def pairs_from_sequentials(model: nn.Module) -> list[NormLinearPair]:
    """(Linear, batch norm) neighbours inside nn.Sequential containers, for a model fx cannot trace."""
    found: list[NormLinearPair] = []
    used: set[str] = set()
    for name, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        prefix = f"{name}." if name else ""
        children = list(module.named_children())
        for (first_name, first), (second_name, second) in zip(children, children[1:], strict=False):
            first_name, second_name = prefix + first_name, prefix + second_name
            if isinstance(first, nn.Linear) and _is_norm(second):
                pair = NormLinearPair(first_name, second_name, norm_first=False)
            elif _is_norm(first) and isinstance(second, nn.Linear):
                pair = NormLinearPair(second_name, first_name, norm_first=True)
            else:
                continue
            if pair.norm not in used:
                found.append(pair)
                used.add(pair.norm)
    return found


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, _BatchNorm)


def norm_input_shapes(
    model: nn.Module, example_input: Tensor, norms: list[str]
) -> dict[str, list[tuple[int, ...]]] | str:
    """The shape of each input the norms named see when `model` runs `example_input`, or why it
    did not run."""
    shapes: dict[str, list[tuple[int, ...]]] = {name: [] for name in norms}
    hooks = []
    for name in norms:

        def record(_module: nn.Module, args: tuple, name: str = name) -> None:
            if args and isinstance(args[0], Tensor):
                shapes[name].append(tuple(args[0].shape))

        hooks.append(model.get_submodule(name).register_forward_pre_hook(record))
    try:
        with torch.no_grad():
            model(example_input)
    except Exception as exc:  # any failure means the shapes are not known; the caller says so
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the example input does not run: {message}"
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def refusal(pair: NormLinearPair, shapes: list[tuple[int, ...]] | None, why_unknown: str) -> str | None:
    """Why `pair` cannot be one Linear for inputs of the shapes its norm saw, or None if it can."""
    where = f"{'before' if pair.norm_first else 'after'} Linear {pair.linear}"
    if shapes is None:
        return f"{where}, but {why_unknown}: a batch norm scales dim 1 and a Linear mixes the last"
    if not shapes:
        return f"{where}, but the example input never reaches it: its input's shape is not known"
    for shape in shapes:
        if len(shape) != 2:
            size = "×".join(map(str, shape))
            return (
                f"{where}, on a {size} input: the norm scales dim 1 and the Linear mixes dim "
                f"{len(shape) - 1}, so no Linear computes both"
            )
    return None


@torch.no_grad()
def fold_into_linear(linear: nn.Linear, norm: _BatchNorm, norm_first: bool) -> bool:
    """Fold `norm` into `linear` in place if a probe of shape (2, features) confirms it; False
    (unchanged) if not. The caller has checked that the two act on the same axis."""
    width = linear.in_features if norm_first else linear.out_features
    mean, var = norm.running_mean, norm.running_var
    if norm.num_features != width or mean is None or var is None:
        return False
    like = linear.weight
    x = torch.randn(2, linear.in_features, generator=torch.Generator().manual_seed(0)).to(like)

    def normalise(v: Tensor) -> Tensor:
        return F.batch_norm(v, mean, var, norm.weight, norm.bias, False, 0.0, norm.eps)

    expected = linear(normalise(x)) if norm_first else normalise(linear(x))
    std = (var.double() + norm.eps).sqrt()
    scale = norm.weight.double() / std if norm.weight is not None else 1.0 / std
    shift = (norm.bias.double() if norm.bias is not None else 0.0) - mean.double() * scale
    weight = linear.weight.double()
    bias = linear.bias.double() if linear.bias is not None else torch.zeros(linear.out_features).double()
    if norm_first:  # W(s⊙x + t) + b
        new_weight, new_bias = weight * scale[None, :], weight @ shift + bias
    else:  # s⊙(Wx + b) + t
        new_weight, new_bias = weight * scale[:, None], bias * scale + shift
    original = linear.weight, linear.bias
    linear.weight = nn.Parameter(new_weight.to(like), requires_grad=like.requires_grad)
    linear.bias = nn.Parameter(new_bias.to(like), requires_grad=like.requires_grad)
    if layer_kinds.computes_like(linear, lambda _: expected, x):
        return True
    linear.weight, linear.bias = original
    return False
