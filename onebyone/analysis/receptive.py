"""Receptive fields through a traced graph, per tensor and per spatial axis.

For every spatial axis a tensor carries an `AxisField`: the field `size` of one output position
in input pixels, the effective stride `jump` between neighbouring positions, and `start`, the
input coordinate of the centre of position 0. A layer with kernel k, stride s, padding p and
dilation d updates them as (Araujo et al., "Computing Receptive Fields of CNNs", Distill 2019):

    size  <- size + (k - 1) * d * jump
    start <- start + ((k - 1) * d / 2 - p) * jump
    jump  <- jump * s

`ceil_mode` only adds output positions at the end (whose windows are clipped), so it does not
change these three numbers. Elementwise ops pass fields through; where several fields meet (add,
cat, mul with broadcasting) the result is the union of their intervals, with a warning when the
spatial inputs disagree on stride or centre. Global or adaptive pooling, reductions over spatial
axes and reshapes that fold the spatial axes away take the union over all positions, so a
flatten + linear head covers every position the flattened map saw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AxisField:
    """Field of position 0 along one axis, in input pixels."""

    size: float
    jump: float
    start: float

    @property
    def low(self) -> float:
        return self.start - (self.size - 1) / 2

    @property
    def high(self) -> float:
        return self.start + (self.size - 1) / 2

    def window(self, kernel: int, stride: float, padding: float, dilation: int = 1) -> AxisField:
        span = (kernel - 1) * dilation
        return AxisField(
            size=self.size + span * self.jump,
            jump=self.jump * stride,
            start=self.start + (span / 2 - padding) * self.jump,
        )

    def transposed(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> AxisField:
        # Output o reads inputs i with i * stride - padding + t * dilation = o for taps t, so the
        # inputs of o = 0 lie in [(padding - (k-1)*d) / s, padding / s]; at most ceil(k*d/s) of them.
        taps = math.ceil(((kernel - 1) * dilation + 1) / stride)
        centre = (padding - (kernel - 1) * dilation / 2) / stride
        return AxisField(
            size=self.size + (taps - 1) * self.jump,
            jump=self.jump / stride,
            start=self.start + centre * self.jump,
        )

    def whole(self, positions: int) -> AxisField:
        """The union over `positions` neighbouring positions (global pooling over this axis)."""
        return self.window(positions, positions, 0)

    def to_dict(self) -> dict[str, float]:
        return {"size": _clean(self.size), "stride": _clean(self.jump), "start": _clean(self.start)}


@dataclass(frozen=True)
class Field:
    """Receptive field of a tensor: one AxisField per input spatial axis (H, W for images).

    `spatial` is True while the tensor's trailing dims are still those spatial axes (so each
    position has its own field); False once they are reduced or folded away, when `axes` is the
    field shared by every element.
    """

    axes: tuple[AxisField, ...]
    spatial: bool = True

    def to_dict(self) -> dict:
        return {"spatial": self.spatial, "axes": [a.to_dict() for a in self.axes]}


def _clean(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 4)


def identity(spatial_dims: int) -> Field:
    return Field(tuple(AxisField(1, 1, 0) for _ in range(spatial_dims)))


def collapse(field: Field, shape: tuple[int, ...]) -> Field:
    """Fold the spatial axes of a tensor of `shape` away: union over all its positions."""
    if not field.spatial:
        return field
    nd = len(field.axes)
    sizes = shape[-nd:] if len(shape) >= nd else (1,) * nd
    return Field(tuple(a.whole(int(n)) for a, n in zip(field.axes, sizes, strict=True)), spatial=False)


def merge(fields: list[Field]) -> tuple[Field, str | None]:
    """Union of several fields meeting at one op; a warning text when spatial inputs disagree."""
    if len(fields) == 1:
        return fields[0], None
    spatial = [f for f in fields if f.spatial]
    warning = None
    if len(spatial) > 1:
        first = spatial[0].axes
        if any(f.axes[i].jump != first[i].jump for f in spatial for i in range(len(first))):
            warning = "inputs disagree on stride"
        elif any(f.axes[i].start != first[i].start for f in spatial for i in range(len(first))):
            warning = "inputs disagree on alignment (centre offset)"
    axes = []
    for i in range(len(fields[0].axes)):
        low = min(f.axes[i].low for f in fields)
        high = max(f.axes[i].high for f in fields)
        jump = max(f.axes[i].jump for f in (spatial or fields))
        axes.append(AxisField(size=high - low + 1, jump=jump, start=(low + high) / 2))
    return Field(tuple(axes), spatial=bool(spatial)), warning


def _pair(value, nd: int) -> tuple[int, ...]:
    """Per-axis values for the `nd` trailing (spatial) axes; leading extra entries act on other dims
    (e.g. the channel window of the avg_pool3d inside local response norm)."""
    if isinstance(value, int):
        return (value,) * nd
    value = tuple(value)
    if len(value) == 0:
        return ()
    if len(value) == 1:
        return value * nd
    return value[-nd:] if len(value) >= nd else value


def _trailing(shape, nd: int) -> tuple[int, ...]:
    return tuple(shape[-nd:]) if len(shape) >= nd else ()


def propagate(name: str, args: tuple, field: Field, in_shape, out_shape) -> tuple[Field, str | None]:
    """Field of the main output of op `name` whose (merged) spatial input field is `field`.

    Returns the new field and a warning text, or None where the op is exact or expected.
    """
    nd = len(field.axes)
    if not field.spatial:
        return field, None
    if name in ("convolution", "_convolution"):
        kernel = tuple(args[1].shape[2:])
        stride, padding, dilation = _pair(args[3], nd), _pair(args[4], nd), _pair(args[5], nd)
        if len(kernel) != nd:
            return collapse(field, in_shape), f"{name}: kernel rank does not match the input's axes"
        if args[6]:  # transposed
            axes = tuple(
                a.transposed(k, s, p, d)
                for a, k, s, p, d in zip(field.axes, kernel, stride, padding, dilation, strict=True)
            )
        else:
            axes = tuple(
                a.window(k, s, p, d)
                for a, k, s, p, d in zip(field.axes, kernel, stride, padding, dilation, strict=True)
            )
        return Field(axes), None
    if name.startswith(("max_pool", "avg_pool")):
        kernel = _pair(args[1], nd)
        stride = _pair(args[2], nd) if len(args) > 2 else ()
        stride = stride or kernel
        padding = _pair(args[3], nd) if len(args) > 3 else (0,) * nd
        dilation = _pair(args[4], nd) if name.startswith("max_pool") and len(args) > 4 else (1,) * nd
        if len(kernel) != nd:
            return collapse(field, in_shape), f"{name}: window rank does not match the input's axes"
        axes = tuple(
            a.window(k, s, p, d)
            for a, k, s, p, d in zip(field.axes, kernel, stride, padding, dilation, strict=True)
        )
        return Field(axes), None
    if name in (
        "constant_pad_nd",
        "reflection_pad1d",
        "reflection_pad2d",
        "reflection_pad3d",
        "replication_pad1d",
        "replication_pad2d",
        "replication_pad3d",
    ):
        # pad = (left, right) per dim, last dim first: position 0 moves `left` pixels outwards
        pads = list(args[1])
        lefts = [pads[2 * i] if 2 * i < len(pads) else 0 for i in range(nd)][::-1]
        shifted = zip(field.axes, lefts, strict=True)
        axes = tuple(AxisField(a.size, a.jump, a.start - left * a.jump) for a, left in shifted)
        warning = None if name == "constant_pad_nd" or not any(lefts) else f"{name}: mirrored border pixels"
        return Field(axes), warning
    if "adaptive" in name:
        axes, warning = [], None
        for a, n_in, n_out in zip(field.axes, _trailing(in_shape, nd), _trailing(out_shape, nd), strict=True):
            if n_out == 1:
                axes.append(a.whole(n_in))
            elif n_in % n_out == 0:
                axes.append(a.window(n_in // n_out, n_in // n_out, 0))
            else:
                # Uneven windows: use the widest window and the mean stride (an upper bound).
                widest = max(math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out))
                axes.append(a.window(widest, n_in / n_out, 0))
                warning = f"{name}: uneven adaptive windows, field is an upper bound"
        is_global = all(n == 1 for n in _trailing(out_shape, nd))
        return Field(tuple(axes), spatial=not is_global), warning
    if name in ("mean", "sum", "amax", "amin", "max", "min", "norm", "linalg_vector_norm") and len(args) > 1:
        dims = args[1]
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        rank = len(in_shape)
        reduced = {d % rank for d in dims} if dims else set(range(rank))
        spatial_dims = {rank - nd + i for i in range(nd)}
        if reduced & spatial_dims:
            if reduced >= spatial_dims:
                # Every output element now sees all positions, even with keepdim (shape N, C, 1, 1).
                whole = tuple(a.whole(n) for a, n in zip(field.axes, _trailing(in_shape, nd), strict=True))
                return Field(whole, spatial=False), None
            return collapse(field, in_shape), f"{name}: reduction over some spatial axes only"
        if _trailing(out_shape, nd) == _trailing(in_shape, nd):
            return field, None
        return collapse(field, in_shape), None
    if name in ("mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "dot"):
        return collapse(field, in_shape), None
    # Everything else keeps the field while the spatial axes stay in place.
    if len(out_shape) >= nd and _trailing(out_shape, nd) == _trailing(in_shape, nd):
        return field, None
    return collapse(field, in_shape), None
