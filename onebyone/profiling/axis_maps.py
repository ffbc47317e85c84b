"""Which input positions each output position of an op reads, along one spatial axis.

A receptive field summarised as (size, stride, start) assumes every output position sees the same
number of inputs, one stride further along. Upsampling breaks that: a 2× nearest upsample maps
outputs 0 and 1 to input 0, outputs 2 and 3 to input 1, and bilinear or transposed-conv outputs
read a varying number of inputs. An `AxisMap` lists, for every output position, the input
indices it really reads (`taps`, with `valid` marking the ones inside the input and with a
non-zero weight: these are the inputs a gradient reaches), and the interval it reads before the
clamping at the borders (`band_low`, `band_high`), from which the summary's size, stride and
start are fitted (`receptive.AxisField.band`).

The resampling indices follow ATen's CPU kernels (aten/src/ATen/native/UpSample.h): nearest uses
floor(o·scale) in float32 (with o and o >> 1 as exact cases), nearest-exact floor((o + ½)·scale),
linear and cubic the source coordinate scale·(o + ½) − ½ (or scale·o with align_corners), where
scale is 1/scale_factor when the caller gave one and in/out otherwise. A source coordinate that
falls on an input pixel gives the neighbours weight 0, so they are not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import Tensor

UPSAMPLE = re.compile(r"^_?upsample_(nearest_exact|nearest|linear|bilinear|trilinear|bicubic)(\d)d(_aa)?$")


@dataclass(frozen=True)
class AxisMap:
    """For each of `n_out` output positions: the input indices read (`taps`, (n_out, m)), which of
    them count (`valid`), the unclamped interval read and the mean step between outputs (`slope`)."""

    taps: Tensor
    valid: Tensor
    band_low: Tensor
    band_high: Tensor
    slope: float


def _positions(n: int) -> Tensor:
    return torch.arange(n, dtype=torch.int64)


def window(n_in: int, n_out: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> AxisMap:
    """Convolution or pooling: output o reads o·stride − padding + t·dilation for taps t < kernel."""
    taps = _positions(n_out)[:, None] * stride - padding + _positions(kernel)[None, :] * dilation
    valid = (taps >= 0) & (taps < n_in)
    return AxisMap(taps, valid, taps[:, 0].double(), taps[:, -1].double(), float(stride))


def transposed(n_in: int, n_out: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> AxisMap:
    """Transposed convolution: input i writes to output i·stride − padding + t·dilation."""
    o = _positions(n_out)[:, None]
    numerator = o + padding - _positions(kernel)[None, :] * dilation
    taps = torch.div(numerator, stride, rounding_mode="floor")
    valid = (numerator % stride == 0) & (taps >= 0) & (taps < n_in)
    o = o[:, 0]
    low = torch.div(o + padding - (kernel - 1) * dilation + stride - 1, stride, rounding_mode="floor")
    high = torch.div(o + padding, stride, rounding_mode="floor")
    return AxisMap(taps, valid, low.double(), high.double(), 1.0 / stride)


def shifted(n_in: int, n_out: int, left: int, mode: str = "constant") -> AxisMap:
    """Padding by `left` (negative: a crop): output o reads o − left; reflect/replicate read inside."""
    raw = _positions(n_out) - left
    if mode == "reflect":
        taps = raw.abs()
        taps = torch.where(taps > n_in - 1, 2 * (n_in - 1) - taps, taps)
    elif mode == "replicate":
        taps = raw.clamp(0, n_in - 1)
    else:
        taps = raw
    valid = (taps >= 0) & (taps < n_in)
    return AxisMap(taps[:, None], valid[:, None], raw.double(), raw.double(), 1.0)


def sliced(n_in: int, n_out: int, start: int, step: int) -> AxisMap:
    """x[start::step] along the axis."""
    taps = start + _positions(n_out) * step
    valid = (taps >= 0) & (taps < n_in)
    return AxisMap(taps[:, None], valid[:, None], taps.double(), taps.double(), float(step))


def adaptive(n_in: int, n_out: int) -> AxisMap:
    """Adaptive pooling: output o reads [floor(o·in/out), ceil((o + 1)·in/out))."""
    o = _positions(n_out)
    first = torch.div(o * n_in, n_out, rounding_mode="floor")
    end = torch.div((o + 1) * n_in + n_out - 1, n_out, rounding_mode="floor")
    width = int((end - first).max())
    taps = first[:, None] + _positions(width)[None, :]
    valid = taps < end[:, None]
    return AxisMap(taps, valid, first.double(), (end - 1).double(), n_in / n_out)


def resample_scale(n_in: int, n_out: int, align_corners: bool, scale_factor: float | None) -> float:
    """Input pixels per output pixel as the kernels compute it."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    if scale_factor is not None and scale_factor > 0:
        return 1.0 / scale_factor
    return n_in / n_out


def nearest(n_in: int, n_out: int, scale_factor: float | None, exact: bool) -> AxisMap:
    o = _positions(n_out)
    scale = resample_scale(n_in, n_out, False, scale_factor)
    if not exact and n_out == n_in:
        raw = o
    elif not exact and n_out == 2 * n_in:
        raw = o // 2
    else:  # the kernel's arithmetic: a float32 scale, (o + 0.5) in double for nearest-exact
        scale32 = float(torch.tensor(scale, dtype=torch.float32))
        product = (o.double() + 0.5) * scale32 if exact else o.float() * scale32
        raw = torch.floor(product.float()).long()
    taps = raw.clamp(max=n_in - 1)
    valid = torch.ones_like(taps, dtype=torch.bool)
    return AxisMap(taps[:, None], valid[:, None], raw.double(), raw.double(), scale)


def interpolated(
    n_in: int, n_out: int, align_corners: bool, scale_factor: float | None, cubic: bool
) -> AxisMap:
    """Linear (2 taps) or cubic (4 taps) interpolation along one axis."""
    o = _positions(n_out).double()
    scale = resample_scale(n_in, n_out, align_corners, scale_factor)
    source = scale * o if align_corners else scale * (o + 0.5) - 0.5
    if n_out == n_in and not cubic:  # the kernels copy the input
        source = o
    base = torch.floor(source)
    on_pixel = source == base
    if cubic:
        taps = base.long()[:, None] + torch.arange(-1, 3)[None, :]
        weighted = ~on_pixel[:, None] | (torch.arange(-1, 3)[None, :] == 0)
        taps = taps.clamp(0, n_in - 1)
        band_low, band_high = base - 1 + on_pixel.double(), base + 2 - 2 * on_pixel.double()
    else:
        clamped = source.clamp(min=0)
        first = torch.floor(clamped).long().clamp(max=n_in - 1)
        second = (first + 1).clamp(max=n_in - 1)
        taps = torch.stack([first, second], dim=1)
        weighted = torch.stack([torch.ones_like(on_pixel), clamped != first.double()], dim=1)
        band_low, band_high = base, torch.ceil(source)
    return AxisMap(taps, weighted, band_low, band_high, scale)


def resampling(
    name: str, args: tuple, in_sizes: tuple[int, ...], out_sizes: tuple[int, ...]
) -> list[AxisMap] | None:
    """The axis maps of an ATen upsample op, or None for the antialiased kernels (whose filter
    support this module does not model)."""
    match = UPSAMPLE.match(name)
    if match is None or match.group(3):
        return None
    mode, nd = match.group(1), int(match.group(2))
    if mode.startswith("nearest"):
        scales = list(args[2:]) if len(args) > 2 else []
        align_corners = False
    else:
        align_corners = bool(args[2]) if len(args) > 2 else False
        scales = list(args[3:]) if len(args) > 3 else []
    if len(scales) == 1 and isinstance(scales[0], (list, tuple)):
        scales = list(scales[0])
    scales = (scales + [None] * nd)[:nd]
    maps = []
    for n_in, n_out, scale in zip(in_sizes, out_sizes, scales, strict=True):
        if mode.startswith("nearest"):
            maps.append(nearest(n_in, n_out, scale, exact=mode == "nearest_exact"))
        else:
            maps.append(interpolated(n_in, n_out, align_corners, scale, cubic=mode == "bicubic"))
    return maps


def is_resampling(name: str) -> bool:
    return UPSAMPLE.match(name) is not None
