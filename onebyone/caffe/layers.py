"""Modules that compute what a Caffe layer computes where torch has no module of that meaning.

Convolution, pooling and ReLU map onto torch's own modules (see `specs.py`); these are the rest:
InnerProduct's flattening, LRN within a channel, global pooling, Scale/Bias over an axis range,
Eltwise, Concat, Slice, Split, Power, Reshape, Flatten, Softmax. Each keeps the Caffe settings it
needs as plain attributes (shown by `extra_repr`) and is traceable by torch.fx: no branch depends
on a tensor's values, and shapes fixed when the net is built are plain ints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class InnerProduct(nn.Linear):
    """Caffe's InnerProduct: every axis from `axis` on flattened, then a linear map (N, K) → (N, num_output).

    The flattening is `flattened(x)`, which `CaffeNet` applies before calling the layer, so that a traced
    graph shows a flatten followed by a plain linear layer (what `convert fc2conv` and the class-map
    tools look for); called on its own, the layer expects the flattened input, as nn.Linear does.
    """

    def __init__(
        self, in_features: int, out_features: int, *, bias: bool = True, axis: int = 1, flatten: bool = True
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.axis = axis
        self.flatten = flatten  # False when the bottom has nothing after `axis` to flatten (known at build)

    def flattened(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, C·H·W) for axis 1
        return x.flatten(self.axis) if self.flatten else x

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, axis={self.axis}"


class WithinChannelLRN(nn.Module):
    """LRN with norm_region WITHIN_CHANNEL, as Caffe builds it: x · (1 + α·mean(x² over a size×size
    square, zero-padded))^−β. Caffe's shift here is 1, not the layer's `k` (lrn_layer.cpp)."""

    def __init__(self, size: int, alpha: float, beta: float) -> None:
        super().__init__()
        self.size, self.alpha, self.beta = size, alpha, beta

    def forward(self, x: Tensor) -> Tensor:
        pad = (self.size - 1) // 2
        mean = F.avg_pool2d(x * x, self.size, stride=1, padding=pad, count_include_pad=True)
        return x * (1 + self.alpha * mean).pow(-self.beta)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}"


class GlobalPool(nn.Module):
    """Pooling with `global_pooling: true`: one value per channel, kept as (N, C, 1, 1) like Caffe."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "MAX":
            return x.amax(dim=(2, 3), keepdim=True)
        return x.mean(dim=(2, 3), keepdim=True)

    def extra_repr(self) -> str:
        return f"mode={self.mode}"


class Scale(nn.Module):
    """Caffe's Scale (`multiplies=True`) and Bias: y = x·γ + β, γ and β of the shape of the input's axes
    axis … axis+num_axes−1, broadcast over the others (`trailing` axes after them). With two bottoms the
    second one is γ (Scale) or β (Bias) and has no parameter of its own."""

    def __init__(
        self,
        shape: tuple[int, ...],
        trailing: int,
        *,
        multiplies: bool = True,
        bias: bool = False,
        two_bottoms: bool = False,
    ) -> None:
        super().__init__()
        self.shape, self.trailing, self.multiplies = tuple(shape), trailing, multiplies
        own_scale = multiplies and not two_bottoms
        own_bias = bias if multiplies else not two_bottoms
        self.weight = nn.Parameter(torch.empty(self.shape)) if own_scale else None
        self.bias = nn.Parameter(torch.empty(self.shape)) if own_bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _broadcast(self, t: Tensor) -> Tensor:
        return t[(...,) + (None,) * self.trailing]

    def forward(self, x: Tensor, other: Tensor | None = None) -> Tensor:
        if other is not None:  # the second bottom
            x = x * self._broadcast(other) if self.multiplies else x + self._broadcast(other)
        elif self.weight is not None:
            x = x * self._broadcast(self.weight)
        if self.bias is not None:
            x = x + self._broadcast(self.bias)
        return x

    def extra_repr(self) -> str:
        kind = "scale" if self.multiplies else "bias"
        return f"{kind}, shape={self.shape}, trailing={self.trailing}, bias={self.bias is not None}"


class Eltwise(nn.Module):
    """Caffe's Eltwise: SUM (with one coefficient per bottom), PROD or MAX of same-shaped bottoms."""

    def __init__(self, operation: str, coeffs: tuple[float, ...] = ()) -> None:
        super().__init__()
        self.operation, self.coeffs = operation, tuple(coeffs)

    def forward(self, *xs: Tensor) -> Tensor:
        if self.operation == "SUM":
            coeffs = self.coeffs or (1.0,) * len(xs)
            out = xs[0] if coeffs[0] == 1 else xs[0] * coeffs[0]
            for x, c in zip(xs[1:], coeffs[1:], strict=True):
                out = out + (x if c == 1 else x * c)
            return out
        out = xs[0]
        for x in xs[1:]:
            out = out * x if self.operation == "PROD" else torch.maximum(out, x)
        return out

    def extra_repr(self) -> str:
        return f"operation={self.operation}" + (f", coeffs={self.coeffs}" if self.coeffs else "")


class Concat(nn.Module):
    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, dim=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Slice(nn.Module):
    """Caffe's Slice: split along `axis` into pieces of the sizes fixed at build time."""

    def __init__(self, axis: int, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.axis, self.sizes = axis, tuple(sizes)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return tuple(torch.split(x, list(self.sizes), dim=self.axis))

    def extra_repr(self) -> str:
        return f"axis={self.axis}, sizes={self.sizes}"


class Split(nn.Module):
    """Caffe's Split: the same blob under several names."""

    def __init__(self, copies: int) -> None:
        super().__init__()
        self.copies = copies

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return (x,) * self.copies


class Power(nn.Module):
    """Caffe's Power: (shift + scale·x)^power."""

    def __init__(self, power: float, scale: float, shift: float) -> None:
        super().__init__()
        self.power, self.scale, self.shift = power, scale, shift

    def forward(self, x: Tensor) -> Tensor:
        y = x * self.scale + self.shift if (self.scale, self.shift) != (1.0, 0.0) else x
        return y if self.power == 1.0 else y.pow(self.power)

    def extra_repr(self) -> str:
        return f"power={self.power}, scale={self.scale}, shift={self.shift}"


class Reshape(nn.Module):
    """Caffe's Reshape: axes axis … axis+num_axes−1 replaced by `dims` (0 copies an axis, −1 is inferred)."""

    def __init__(self, dims: tuple[int, ...], axis: int, end: int | None) -> None:
        super().__init__()
        self.dims, self.axis, self.end = tuple(dims), axis, end

    def forward(self, x: Tensor) -> Tensor:
        end = x.dim() if self.end is None else self.end
        middle = [x.shape[self.axis + i] if d == 0 else d for i, d in enumerate(self.dims)]
        return x.reshape(*x.shape[: self.axis], *middle, *x.shape[end:])

    def extra_repr(self) -> str:
        return f"dims={self.dims}, axis={self.axis}, end={self.end}"


class Flatten(nn.Module):
    def __init__(self, axis: int, end_axis: int) -> None:
        super().__init__()
        self.axis, self.end_axis = axis, end_axis

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.axis, self.end_axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}, end_axis={self.end_axis}"


class Softmax(nn.Module):
    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(x, dim=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
