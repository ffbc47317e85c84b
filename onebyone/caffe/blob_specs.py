"""The Caffe layers that join, split and reshape blobs: Concat, Eltwise, Flatten, Reshape, Split, Slice.

Builders as in `specs.py`: `(layer, bottom shapes) -> module`, with caffe.proto's defaults; an axis is
read as Caffe's CanonicalAxisIndex reads it (negative counts from the end).
"""

from __future__ import annotations

from onebyone.caffe import layers
from onebyone.caffe.fields import enum_value, schema
from onebyone.errors import OneByOneError


def canonical_axis(axis: int, ndim: int, where: str) -> int:
    """Caffe's CanonicalAxisIndex: a negative axis counts from the end."""
    if not -ndim <= axis < ndim:
        raise OneByOneError(f"{where}: axis {axis} is out of range for a {ndim}-D blob")
    return axis % ndim


def concat(layer, shapes):
    p = layer.params("concat_param", schema("axis:int concat_dim:uint"))
    axis = p.one("axis", None)
    axis = p.one("concat_dim", 1) if axis is None else axis
    return layers.Concat(canonical_axis(axis, len(shapes[0]), p.where))


def eltwise(layer, shapes):
    p = layer.params("eltwise_param", schema("operation:enum coeff:float* stable_prod_grad:bool"))
    operation = enum_value(p, "operation", {"PROD": 0, "SUM": 1, "MAX": 2}, "SUM")
    coeffs = tuple(p.many("coeff"))
    if coeffs and (operation != "SUM" or len(coeffs) != len(shapes)):
        raise OneByOneError(
            f"{p.where}: coeff needs operation SUM and one value per bottom "
            f"({len(shapes)}), got {len(coeffs)}"
        )
    if len(shapes) < 2 or any(s != shapes[0] for s in shapes):
        raise OneByOneError(f"{p.where}: needs two or more bottoms of one shape, got {shapes}")
    return layers.Eltwise(operation, coeffs)


def flatten(layer, shapes):
    p = layer.params("flatten_param", schema("axis:int end_axis:int"))
    ndim = len(shapes[0])
    return layers.Flatten(
        canonical_axis(p.one("axis", 1), ndim, p.where), canonical_axis(p.one("end_axis", -1), ndim, p.where)
    )


def reshape(layer, shapes):
    p = layer.params("reshape_param", schema("shape:msg axis:int num_axes:int"))
    dims = tuple(p.sub("shape", schema("dim:int*")).many("dim"))
    ndim = len(shapes[0])
    axis = p.one("axis", 0)
    axis = axis + ndim + 1 if axis < 0 else axis  # Caffe: −1 is the end, after the last axis
    num_axes = p.one("num_axes", -1)
    end = None if num_axes == -1 else axis + num_axes
    if not 0 <= axis <= ndim or (end is not None and not axis <= end <= ndim):
        raise OneByOneError(
            f"{p.where}: axis {p.one('axis', 0)} and num_axes {num_axes} do not fit a {ndim}-D bottom"
        )
    if sum(d == -1 for d in dims) > 1 or any(d < -1 for d in dims):
        raise OneByOneError(f"{p.where}: shape {list(dims)}: at most one -1 and no other negative size")
    return layers.Reshape(dims, axis, end)


def split(layer, shapes):
    return layers.Split(len(layer.tops))


def slice_layer(layer, shapes):
    p = layer.params("slice_param", schema("axis:int slice_point:uint* slice_dim:uint"))
    axis = p.one("axis", None)
    axis = canonical_axis(p.one("slice_dim", 1) if axis is None else axis, len(shapes[0]), p.where)
    size, points, tops = shapes[0][axis], p.many("slice_point"), len(layer.tops)
    if points:
        increasing = points == sorted(set(points)) and 0 < points[0] and points[-1] < size
        if len(points) != tops - 1 or not increasing:
            raise OneByOneError(
                f"{p.where}: slice_point {points} must be {tops - 1} increasing positions "
                f"inside the axis of size {size}"
            )
        edges = [0, *points, size]
        sizes = tuple(b - a for a, b in zip(edges, edges[1:], strict=False))
    else:
        if size % tops:
            raise OneByOneError(f"{p.where}: axis of size {size} does not split evenly into {tops} tops")
        sizes = (size // tops,) * tops
    return layers.Slice(axis, sizes)
