"""Layers onebyone understands, recognised by what they compute rather than by their exact class.

Model libraries subclass torch's layers and give them their own `forward`: timm's `Linear` (an
nn.Linear), `BatchNormAct2d` (a BatchNorm2d that applies its activation after normalising),
`Conv2dSame` (a Conv2d that pads like TensorFlow's "SAME"), torchvision's and timm's
`LayerNorm2d` (a LayerNorm over the channels of an (N, C, H, W) map). Such a subclass counts as
the layer it derives from only when a probe on a small seeded random input shows that it computes
what that layer computes; the steps that rewrite layers leave any other module alone and say why.
A linear layer applied to the last axis of an (N, H, W, C) map is a 1×1 convolution in
channels-last layout; callers tell it by the shape of its input.

`trace(model)` keeps every conv, linear, norm and activation module whole, subclasses included
(torch.fx would otherwise trace through a subclass's forward into functional calls, or fail on its
Python), so surgery, deploy and inspect see one graph node per layer. Element-wise layers, modules
and functions alike, are looked up in one table by kind (`elementwise`, `zero_kind`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

ACTIVATION_TYPES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Threshold,
    nn.Mish,
    nn.Softplus,
)
# Modules traced as one node, subclasses included.
LAYER_TYPES = (nn.Linear, _ConvNd, _BatchNorm, nn.LayerNorm, nn.GroupNorm, *ACTIVATION_TYPES)


@dataclass(frozen=True)
class Elementwise:
    """An op applied to each value alone (or, for dropout in eval mode, not at all)."""

    kind: str  # "relu", "hardswish", "dropout", ...
    affine: bool = False  # a spatial mean passes through it unchanged (class activation maps need this)


_IDENTITY = Elementwise("identity", affine=True)
_DROPOUT = Elementwise("dropout", affine=True)
ELEMENTWISE_MODULES: dict[type, Elementwise] = {
    nn.Identity: _IDENTITY,
    nn.Dropout: _DROPOUT,
    nn.AlphaDropout: _DROPOUT,
    **{kind: Elementwise(kind.__name__.lower()) for kind in ACTIVATION_TYPES},
}
ELEMENTWISE_FUNCTIONS: dict[object, Elementwise] = {
    F.dropout: _DROPOUT,
    F.relu: Elementwise("relu"),
    torch.relu: Elementwise("relu"),
    F.relu6: Elementwise("relu6"),
    F.leaky_relu: Elementwise("leakyrelu"),
    F.elu: Elementwise("elu"),
    F.gelu: Elementwise("gelu"),
    F.silu: Elementwise("silu"),
    torch.sigmoid: Elementwise("sigmoid"),
    F.sigmoid: Elementwise("sigmoid"),
    torch.tanh: Elementwise("tanh"),
    F.tanh: Elementwise("tanh"),
    F.hardswish: Elementwise("hardswish"),
    F.hardtanh: Elementwise("hardtanh"),
    F.hardsigmoid: Elementwise("hardsigmoid"),
    F.mish: Elementwise("mish"),
    F.softplus: Elementwise("softplus"),
    F.threshold: Elementwise("threshold"),
}
ELEMENTWISE_METHODS: dict[str, Elementwise] = {
    "contiguous": _IDENTITY,
    "clone": _IDENTITY,
    "relu": Elementwise("relu"),
    "relu_": Elementwise("relu"),
    "sigmoid": Elementwise("sigmoid"),
    "tanh": Elementwise("tanh"),
}
# Kinds that turn non-zero inputs into exact zeros: what sparsity counts. Hard-tanh does so only
# when it clips at 0 (ReLU6 is one), a threshold only when it replaces by 0.
ZERO_KINDS = frozenset({"relu", "relu6", "hardswish", "hardtanh", "threshold", "clamp"})
# The same functions as a torch function mode sees them (Tensor methods as methods), with in-place forms.
_CALLS: dict[object, str] = {
    F.relu: "relu",
    torch.relu: "relu",
    torch.relu_: "relu",
    F.relu_: "relu",
    torch.Tensor.relu: "relu",
    torch.Tensor.relu_: "relu",
    F.relu6: "relu6",
    F.hardswish: "hardswish",
    F.hardtanh: "hardtanh",
    F.hardtanh_: "hardtanh",
    F.threshold: "threshold",
    torch.clamp: "clamp",
    torch.clamp_min: "clamp",
    torch.Tensor.clamp: "clamp",
    torch.Tensor.clamp_: "clamp",
    torch.Tensor.clamp_min: "clamp",
    torch.Tensor.clamp_min_: "clamp",
}


def lookup(table: dict[type, object], module: nn.Module):
    """`table`'s entry for the most derived class of `module` it names (subclasses inherit it)."""
    for cls in type(module).__mro__:
        if cls in table:
            return table[cls]
    return None


def elementwise(module: nn.Module) -> Elementwise | None:
    return lookup(ELEMENTWISE_MODULES, module)


def zero_kind(module: nn.Module) -> str | None:
    """The kind of an activation module that can output exact zeros ("relu", "relu6", …), else None."""
    found = elementwise(module)
    if found is None or found.kind not in ZERO_KINDS:
        return None
    if found.kind == "hardtanh" and module.min_val != 0:
        return None
    if found.kind == "threshold" and module.value != 0:
        return None
    return found.kind


def zero_kind_of_call(func: Callable, args: tuple, kwargs: dict) -> str | None:
    """The kind of a functional activation call that can output exact zeros, else None."""
    kind = _CALLS.get(func)

    def argument(index: int, name: str, default):
        return args[index] if len(args) > index else kwargs.get(name, default)

    if kind == "hardtanh" and argument(1, "min_val", -1.0) != 0:
        return None
    if kind == "threshold" and argument(2, "value", None) != 0:
        return None
    if kind == "clamp" and (argument(1, "min", None) != 0 or (argument(2, "max", None) or 1) <= 0):
        return None
    return kind


# Functions recorded as one call instead of traced into (their bodies branch on shapes, which fx cannot
# follow). A rewrite that puts one into a graph registers it here (`surgery.heads` registers
# vector_if_single_cell, the output of `convert fc2conv`), so the graph it writes can be traced again,
# e.g. by `inspect cam` on a converted run. `fx.wrap` alone does not do it: it patches the name only in
# the module that defines the function, not in the code a GraphModule generates.
LEAF_FUNCTIONS: list[Callable] = []


class LayerTracer(fx.Tracer):
    """torch.fx tracer that keeps conv, linear, norm and activation modules whole, subclasses too, and
    the functions of LEAF_FUNCTIONS as single calls."""

    def __init__(self) -> None:
        super().__init__(autowrap_functions=tuple(LEAF_FUNCTIONS))

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, LAYER_TYPES) or super().is_leaf_module(module, qualified_name)


def trace(model: nn.Module) -> fx.GraphModule:
    """`model` as a GraphModule whose call_module nodes include every layer of `LAYER_TYPES`."""
    graph = LayerTracer().trace(model)
    return fx.GraphModule(model, graph, type(model).__name__)


# --- probes: does a subclass compute what its base class computes? --------------------------------

_LINEAR: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NORM_THEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _probe(shape: tuple[int, ...], like: Tensor) -> Tensor:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    return x.to(device=like.device, dtype=like.dtype)


def computes_like(module: nn.Module, reference: Callable[[Tensor], Tensor], x: Tensor) -> bool:
    """Whether module(x) equals reference(x), in eval mode without gradients; False if either fails."""
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        with torch.no_grad():
            got, want = module(x.clone()), reference(x.clone())
    except Exception:  # a module that cannot run the probe does not compute the reference
        return False
    finally:
        for m, training in modes:
            m.training = training
    if not isinstance(got, Tensor) or got.shape != want.shape:
        return False
    scale = float(want.detach().abs().max()) if want.numel() else 0.0
    return bool(torch.allclose(got.double(), want.double(), rtol=1e-4, atol=1e-5 * (1.0 + scale)))


def _overrides(module: nn.Module, base: type) -> bool:
    return type(module).forward is not base.forward


def _cached(cache: weakref.WeakKeyDictionary, module: nn.Module, compute: Callable[[], object]):
    if module not in cache:
        cache[module] = compute()
    return cache[module]


def is_linear(module: nn.Module | None) -> bool:
    """nn.Linear or a subclass that computes F.linear(x, weight, bias) (timm's `Linear`)."""
    if not isinstance(module, nn.Linear):
        return False
    if not _overrides(module, nn.Linear):
        return True
    if module.weight.is_meta:
        return False

    def probe() -> bool:
        x = _probe((2, module.in_features), module.weight)
        return computes_like(module, lambda v: F.linear(v, module.weight, module.bias), x)

    return _cached(_LINEAR, module, probe)


def batch_norm_then(norm: nn.Module) -> nn.Module | None:
    """What a batch norm applies after normalising with its running statistics, or None.

    nn.Identity for torch's batch norms; for a subclass that fuses more (timm's BatchNormAct2d:
    normalise, then dropout and activation), its child modules in order, when a probe confirms that
    the subclass computes exactly that. None when it has no running statistics (it normalises by
    batch statistics) or computes something else.
    """
    if not isinstance(norm, _BatchNorm) or norm.running_mean is None or norm.running_var is None:
        return None
    if type(norm).forward in (_BatchNorm.forward, nn.SyncBatchNorm.forward):
        return nn.Identity()
    if norm.running_mean.is_meta:
        return None

    def probe() -> nn.Module | None:
        followers = nn.Sequential(*(c for c in norm.children() if not isinstance(c, nn.Identity)))
        dims = 1 if isinstance(norm, nn.BatchNorm1d) else 3 if isinstance(norm, nn.BatchNorm3d) else 2
        x = _probe((2, norm.num_features, *([3] * dims)), norm.running_mean)

        def reference(v: Tensor) -> Tensor:
            mean, var = norm.running_mean, norm.running_var
            return followers(F.batch_norm(v, mean, var, norm.weight, norm.bias, False, 0.0, norm.eps))

        if not computes_like(norm, reference, x):
            return None
        return followers[0] if len(followers) == 1 else (followers if len(followers) else nn.Identity())

    return _cached(_NORM_THEN, norm, probe)


def normalizes_channels(module: nn.Module | None, channels: int) -> bool:
    """A LayerNorm over dim 1 of an (N, C, H, W) map (torchvision's and timm's LayerNorm2d)."""
    if not isinstance(module, nn.LayerNorm) or tuple(module.normalized_shape) != (channels,):
        return False
    like = module.weight if module.weight is not None else torch.empty(0)
    if like.is_meta:
        return False

    def reference(x: Tensor) -> Tensor:
        moved = x.permute(0, 2, 3, 1)
        return F.layer_norm(moved, (channels,), module.weight, module.bias, module.eps).permute(0, 3, 1, 2)

    return computes_like(module, reference, _probe((2, channels, 2, 3), like))


@dataclass
class PlainConv:
    """A Conv2d as torch's own nn.Conv2d computes it, after an optional explicit zero padding."""

    conv: nn.Conv2d  # computes the layer on the padded input; the layer itself when it is a plain conv
    pad: tuple[int, int, int, int] | None = None  # (left, right, top, bottom), as F.pad takes it
    fixed_at: tuple[int, int] | None = None  # the input (H, W) `pad` was worked out for, if it depends on it


def same_padding(size: tuple[int, int], conv: nn.Conv2d) -> tuple[int, int, int, int]:
    """TensorFlow's "SAME" zero padding (left, right, top, bottom) of `conv` on an H×W input."""
    pads = []
    settings = zip(size, conv.kernel_size, conv.stride, conv.dilation, strict=True)
    for length, kernel, stride, dilation in settings:
        total = max((-(-length // stride) - 1) * stride + (kernel - 1) * dilation + 1 - length, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return (left, right, top, bottom)


def plain_conv2d(conv: nn.Conv2d, input_shape: tuple[int, ...]) -> PlainConv | None:
    """How a Conv2d (or subclass) computes on an (N, C, H, W) input of `input_shape`, or None.

    A subclass with its own forward is probed at `input_shape` against nn.Conv2d's computation with
    its settings, then against TensorFlow "SAME" padding in front of it (timm's Conv2dSame). A
    symmetric "SAME" pad becomes the plain conv's padding; an asymmetric one stays explicit.
    """
    if not isinstance(conv, nn.Conv2d):
        return None
    if not _overrides(conv, nn.Conv2d):
        return PlainConv(conv)
    if conv.weight.is_meta:
        return None
    x = _probe((1, *input_shape[1:]), conv.weight)
    if computes_like(conv, lambda v: nn.Conv2d.forward(conv, v), x):
        return PlainConv(conv)
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return None
    pad = same_padding(tuple(input_shape[-2:]), conv)
    if not computes_like(conv, lambda v: nn.Conv2d.forward(conv, F.pad(v, pad)), x):
        return None
    left, right, top, bottom = pad
    symmetric = left == right and top == bottom
    plain = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=(conv.padding[0] + top, conv.padding[1] + left) if symmetric else conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        plain.weight.copy_(conv.weight)
        if conv.bias is not None:
            plain.bias.copy_(conv.bias)
    # With stride 1 "SAME" pads by the kernel alone; with a larger stride, by the input size too.
    depends = any(s > 1 for s in conv.stride)
    return PlainConv(plain, None if symmetric else pad, tuple(input_shape[-2:]) if depends else None)
