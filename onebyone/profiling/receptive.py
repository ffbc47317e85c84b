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

Upsampling (F.interpolate, nn.Upsample) and transposed convolutions read a number of inputs that
varies from one output position to the next, so (size, stride, start) can only bound them: there
the summary is the narrowest band `start + i·stride ± (size − 1)/2` that holds what every position
reads (`AxisField.band`, with stride = input pixels per output pixel, e.g. ½ after a 2× upsample).
Alongside the summary, `Field.extents` follows the exact first and last input pixel of every
position along every axis (clipped to the input, as a gradient would find them) through the ops
whose index maps `axis_maps` knows; it is None where an op is not one of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from onebyone.profiling import axis_maps
from onebyone.profiling.axis_maps import AxisMap

# The extent of a position that reads no input pixel (padding, or a crop past the border).
_NONE_LOW, _NONE_HIGH = 1 << 60, -(1 << 60)


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

    def band(self, axis_map: AxisMap) -> AxisField:
        """The narrowest summary that holds every output position of `axis_map` (see module doc)."""
        step = torch.arange(len(axis_map.band_low), dtype=torch.float64) * axis_map.slope
        below = float((axis_map.band_low - step).min())
        above = float((axis_map.band_high - step).max())
        return AxisField(
            size=self.size + (above - below) * self.jump,
            jump=self.jump * axis_map.slope,
            start=self.start + (above + below) / 2 * self.jump,
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
    # Per axis (first, last) input pixel of every position (one entry when not spatial); see doc.
    extents: tuple[tuple[Tensor, Tensor], ...] | None = field(default=None, compare=False, repr=False)

    def extent(self, positions: tuple[int, ...]) -> tuple[tuple[int, int], ...] | None:
        """Exact (first, last) input pixel per axis of the output at `positions`; None when that
        position reads no input pixel (only padding or bias). Raises ValueError when the extents
        were not followed (an op `axis_maps` does not model)."""
        if self.extents is None:
            raise ValueError("exact extents were not followed through every op of this model")
        found = []
        for (low, high), p in zip(self.extents, positions, strict=True):
            p = p if len(low) > 1 else 0
            if int(low[p]) > int(high[p]):
                return None
            found.append((int(low[p]), int(high[p])))
        return tuple(found)

    def to_dict(self) -> dict:
        return {"spatial": self.spatial, "axes": [a.to_dict() for a in self.axes]}


def _clean(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 4)


def identity(spatial_dims: int, sizes: tuple[int, ...] | None = None) -> Field:
    """The input's own field; with its spatial `sizes`, its exact extents too (pixel i is i)."""
    extents = None
    if sizes is not None and len(sizes) == spatial_dims:
        extents = tuple((torch.arange(int(n)), torch.arange(int(n))) for n in sizes)
    return Field(tuple(AxisField(1, 1, 0) for _ in range(spatial_dims)), extents=extents)


def collapse(field: Field, shape: tuple[int, ...]) -> Field:
    """Fold the spatial axes of a tensor of `shape` away: union over all its positions."""
    if not field.spatial:
        return field
    nd = len(field.axes)
    sizes = shape[-nd:] if len(shape) >= nd else (1,) * nd
    axes = tuple(a.whole(int(n)) for a, n in zip(field.axes, sizes, strict=True))
    return Field(axes, spatial=False, extents=_union_all(field.extents))


def _union_all(extents):
    if extents is None:
        return None
    return tuple((low.min().reshape(1), high.max().reshape(1)) for low, high in extents)


def _merge_extents(fields: list[Field]):
    """Position-wise union; a length-1 table (a field that is not spatial) applies to every position."""
    tables = [f.extents for f in fields if f.extents is not None]
    if len(tables) < len(fields):
        return None
    merged = []
    for i in range(len(fields[0].axes)):
        lengths = {len(t[i][0]) for t in tables} - {1}
        if len(lengths) > 1:
            return None
        low, high = tables[0][i]
        for t in tables[1:]:
            low, high = torch.minimum(low, t[i][0]), torch.maximum(high, t[i][1])
        merged.append((low, high))
    return tuple(merged)


def _follow(extents, maps: list[AxisMap]):
    """Extents after an op that reads, along each axis, the inputs its `maps` list."""
    if extents is None:
        return None
    followed = []
    for (low, high), axis_map in zip(extents, maps, strict=True):
        if len(low) == 1 and axis_map.taps.numel() and int(axis_map.taps.max()) > 0:
            return None  # a table that does not match the axis (should not happen)
        index = axis_map.taps.clamp(0, len(low) - 1)
        first = torch.where(axis_map.valid, low[index], _NONE_LOW).amin(1)
        last = torch.where(axis_map.valid, high[index], _NONE_HIGH).amax(1)
        followed.append((first, last))
    return tuple(followed)


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
    return Field(tuple(axes), spatial=bool(spatial), extents=_merge_extents(fields)), warning


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
    if not field.spatial:
        return field, None
    nd = len(field.axes)
    maps = _index_maps(name, args, nd, in_shape, out_shape)
    summary, warning = _summary(name, args, field, in_shape, out_shape, maps)
    if summary is field:
        return field, warning
    if not summary.spatial:
        extents = _union_all(field.extents)
    elif maps is not None:
        extents = _follow(field.extents, maps)
    else:
        extents = None
    return Field(summary.axes, summary.spatial, extents), warning


def _index_maps(name: str, args: tuple, nd: int, in_shape, out_shape) -> list[AxisMap] | None:
    """What each output position reads along each spatial axis, for the ops `axis_maps` models."""
    sizes_in, sizes_out = _trailing(in_shape, nd), _trailing(out_shape, nd)
    if len(sizes_in) != nd or len(sizes_out) != nd:
        return None
    if name in ("convolution", "_convolution"):
        kernel = tuple(args[1].shape[2:])
        if len(kernel) != nd:
            return None
        stride, padding, dilation = _pair(args[3], nd), _pair(args[4], nd), _pair(args[5], nd)
        make = axis_maps.transposed if args[6] else axis_maps.window
        axes = zip(sizes_in, sizes_out, kernel, stride, padding, dilation, strict=True)
        return [make(*values) for values in axes]
    if name.startswith(("max_pool", "avg_pool")):
        kernel = _pair(args[1], nd)
        stride = (_pair(args[2], nd) if len(args) > 2 else ()) or kernel
        padding = _pair(args[3], nd) if len(args) > 3 else (0,) * nd
        dilation = _pair(args[4], nd) if name.startswith("max_pool") and len(args) > 4 else (1,) * nd
        if len(kernel) != nd:
            return None
        axes = zip(sizes_in, sizes_out, kernel, stride, padding, dilation, strict=True)
        return [axis_maps.window(*values) for values in axes]
    if name in _PADS:
        pads = list(args[1])
        lefts = [pads[2 * i] if 2 * i < len(pads) else 0 for i in range(nd)][::-1]
        mode = "reflect" if "reflection" in name else "replicate" if "replication" in name else "constant"
        return [
            axis_maps.shifted(a, b, left, mode) for a, b, left in zip(sizes_in, sizes_out, lefts, strict=True)
        ]
    if "adaptive" in name:
        return [axis_maps.adaptive(a, b) for a, b in zip(sizes_in, sizes_out, strict=True)]
    if name == "slice":
        axis, start, step = _slice_axis(args, nd, in_shape)
        if axis is None:
            return None
        return [
            axis_maps.sliced(a, b, start, step) if i == axis else axis_maps.window(a, b, 1, 1, 0)
            for i, (a, b) in enumerate(zip(sizes_in, sizes_out, strict=True))
        ]
    if axis_maps.is_resampling(name):
        return axis_maps.resampling(name, args, sizes_in, sizes_out)
    return None


def _slice_axis(args: tuple, nd: int, in_shape) -> tuple[int | None, int, int]:
    """(spatial axis, first index, step) of an aten.slice over a spatial dim; axis None otherwise."""
    rank = len(in_shape)
    dim = (args[1] if len(args) > 1 else 0) % rank
    if dim < rank - nd:
        return None, 0, 1
    n = in_shape[dim]
    start = args[2] if len(args) > 2 and args[2] is not None else 0
    start = min(max(start + n if start < 0 else start, 0), n)
    step = args[4] if len(args) > 4 else 1
    return dim - (rank - nd), start, step


_PADS = (
    "constant_pad_nd",
    "reflection_pad1d",
    "reflection_pad2d",
    "reflection_pad3d",
    "replication_pad1d",
    "replication_pad2d",
    "replication_pad3d",
)


def _summary(name: str, args: tuple, field: Field, in_shape, out_shape, maps) -> tuple[Field, str | None]:
    """(size, stride, start) of the output: the formulas of the module doc, a band for resampling."""
    nd = len(field.axes)
    if name in ("convolution", "_convolution"):
        kernel = tuple(args[1].shape[2:])
        stride, padding, dilation = _pair(args[3], nd), _pair(args[4], nd), _pair(args[5], nd)
        if len(kernel) != nd:
            return collapse(field, in_shape), f"{name}: kernel rank does not match the input's axes"
        if args[6]:  # transposed: a varying number of inputs per output
            axes = tuple(a.band(m) for a, m in zip(field.axes, maps, strict=True))
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
    if name in _PADS:
        # pad = (left, right) per dim, last dim first: position 0 moves `left` pixels outwards
        pads = list(args[1])
        lefts = [pads[2 * i] if 2 * i < len(pads) else 0 for i in range(nd)][::-1]
        shifted = zip(field.axes, lefts, strict=True)
        axes = tuple(AxisField(a.size, a.jump, a.start - left * a.jump) for a, left in shifted)
        warning = None if name == "constant_pad_nd" or not any(lefts) else f"{name}: mirrored border pixels"
        return Field(axes), warning
    if "adaptive" in name:
        windows: list[AxisField] = []
        warning = None
        for a, n_in, n_out in zip(field.axes, _trailing(in_shape, nd), _trailing(out_shape, nd), strict=True):
            if n_out == 1:
                windows.append(a.whole(n_in))
            elif n_in % n_out == 0:
                windows.append(a.window(n_in // n_out, n_in // n_out, 0))
            else:
                # Uneven windows: use the widest window and the mean stride (an upper bound).
                widest = max(math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out))
                windows.append(a.window(widest, n_in / n_out, 0))
                warning = f"{name}: uneven adaptive windows, field is an upper bound"
        is_global = all(n == 1 for n in _trailing(out_shape, nd))
        return Field(tuple(windows), spatial=not is_global), warning
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
    if name == "slice" and maps is not None:
        axis, start, step = _slice_axis(args, nd, in_shape)
        assert axis is not None, "a slice has index maps only over a spatial axis"
        sliced = list(field.axes)
        a = sliced[axis]
        sliced[axis] = AxisField(a.size, a.jump * step, a.start + start * a.jump)
        return Field(tuple(sliced)), None
    if axis_maps.is_resampling(name):
        if maps is not None:
            return Field(tuple(a.band(m) for a, m in zip(field.axes, maps, strict=True))), None
        plain = axis_maps.resampling(
            name.removesuffix("_aa"), args, _trailing(in_shape, nd), _trailing(out_shape, nd)
        )
        assert plain is not None, "the plain kernel of every resampling op is modelled"
        axes = tuple(a.band(m) for a, m in zip(field.axes, plain, strict=True))
        return Field(axes), f"{name}: antialiased resampling, field of plain interpolation (narrower)"
    if name in ("mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "dot"):
        return collapse(field, in_shape), None
    # Everything else keeps the field while the spatial axes stay in place.
    if len(out_shape) >= nd and _trailing(out_shape, nd) == _trailing(in_shape, nd):
        return field, None
    return collapse(field, in_shape), None
