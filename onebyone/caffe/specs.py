"""Each supported Caffe layer type: its parameter message, read with caffe.proto's defaults, as a module.

`LAYER_BUILDERS[type](layer, shapes)` returns the module for one `LayerDef` whose bottoms have
`shapes` (batch first, as Caffe's blobs). Shapes are known when a layer is built, as in Caffe's
`Reshape`, so an InnerProduct's input width and a Slice's pieces are fixed numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from onebyone.caffe import layers
from onebyone.caffe.blob_specs import canonical_axis, concat, eltwise, flatten, reshape, slice_layer, split
from onebyone.caffe.fields import Params, enum_value, schema
from onebyone.errors import OneByOneError

Shape = tuple[int, ...]
_ENGINE = "engine:enum"
CONV_FIELDS = schema(
    "num_output:uint bias_term:bool pad:uint* kernel_size:uint* stride:uint* dilation:uint* pad_h:uint "
    "pad_w:uint kernel_h:uint kernel_w:uint stride_h:uint stride_w:uint group:uint weight_filler:msg "
    f"bias_filler:msg {_ENGINE} axis:int force_nd_im2col:bool"
)
POOL_FIELDS = schema(
    "pool:enum pad:uint pad_h:uint pad_w:uint kernel_size:uint kernel_h:uint kernel_w:uint stride:uint "
    f"stride_h:uint stride_w:uint {_ENGINE} global_pooling:bool round_mode:enum"
)
POOL_METHODS = {"MAX": 0, "AVE": 1, "STOCHASTIC": 2}


def _conv_pair(p: Params, repeated: str, prefix: str | None, default: int | None) -> tuple[int, int]:
    """(h, w) of a convolution setting: `repeated` with one or two values, or `prefix_h` + `prefix_w`."""
    if prefix and (p.has(f"{prefix}_h") or p.has(f"{prefix}_w")):
        if p.many(repeated):
            raise OneByOneError(f"{p.where}: give {repeated} or {prefix}_h and {prefix}_w, not both")
        if not (p.has(f"{prefix}_h") and p.has(f"{prefix}_w")):
            raise OneByOneError(f"{p.where}: {prefix}_h and {prefix}_w go together")
        return p.one(f"{prefix}_h"), p.one(f"{prefix}_w")
    values = p.many(repeated)
    if not values:
        if default is None:
            raise OneByOneError(f"{p.where}: {repeated} is required")
        return default, default
    if len(values) > 2:
        raise OneByOneError(f"{p.where}: {len(values)} values of {repeated}; onebyone reads 2-D layers")
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _needs_4d(layer, shape: Shape) -> None:
    if len(shape) != 4:
        raise OneByOneError(
            f"{layer.where}: bottom of shape {list(shape)}; onebyone reads 2-D (N, C, H, W) "
            "convolution and pooling only"
        )


def convolution(layer, shapes: list[Shape], *, transposed: bool = False) -> nn.Module:
    p = layer.params("convolution_param", CONV_FIELDS)
    _needs_4d(layer, shapes[0])
    if p.one("axis", 1) != 1:
        raise OneByOneError(f"{p.where}: axis {p.one('axis')}; only channels on axis 1 are supported")
    if not p.one("num_output", 0):
        raise OneByOneError(f"{p.where}: num_output is required")
    kernel = _conv_pair(p, "kernel_size", "kernel", None)
    stride, pad = _conv_pair(p, "stride", "stride", 1), _conv_pair(p, "pad", "pad", 0)
    dilation = _conv_pair(p, "dilation", None, 1)
    for name, pair in (("kernel size", kernel), ("stride", stride), ("dilation", dilation)):
        if min(pair) < 1:
            raise OneByOneError(f"{p.where}: {name} {list(pair)} must be at least 1, as Caffe checks")
    group = p.one("group", 1)
    channels, out = shapes[0][1], p.one("num_output")
    if group < 1 or channels % group or out % group:
        raise OneByOneError(
            f"{p.where}: group {group} must divide the input channels ({channels}) and num_output ({out})"
        )
    kind = nn.ConvTranspose2d if transposed else nn.Conv2d
    return kind(
        channels,
        out,
        kernel,
        stride=stride,
        padding=pad,
        dilation=dilation,
        groups=group,
        bias=p.one("bias_term", True),
    )


def _kernel(p: Params) -> tuple[int, int]:
    if p.has("kernel_h") or p.has("kernel_w"):
        if p.has("kernel_size"):
            raise OneByOneError(f"{p.where}: give kernel_size or kernel_h and kernel_w, not both")
        if not (p.has("kernel_h") and p.has("kernel_w")):
            raise OneByOneError(f"{p.where}: kernel_h and kernel_w go together")
        return p.one("kernel_h"), p.one("kernel_w")
    if not p.has("kernel_size"):
        raise OneByOneError(f"{p.where}: kernel_size is required (or global_pooling: true)")
    return p.one("kernel_size"), p.one("kernel_size")


def _scalar_pair(p: Params, name: str, default: int) -> tuple[int, int]:
    if p.has(f"{name}_h") or p.has(f"{name}_w"):
        return p.one(f"{name}_h", default), p.one(f"{name}_w", default)
    return p.one(name, default), p.one(name, default)


def caffe_pooled_size(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """Caffe's PoolingLayer::Reshape: ceil (or floor) rounding, then a last window that would start
    in the padding is dropped."""
    rounded = math.ceil if ceil else math.floor
    pooled = int(rounded((size + 2 * pad - kernel) / stride)) + 1
    if pad and (pooled - 1) * stride >= size + pad:
        pooled -= 1
    return pooled


def _torch_pooled_size(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    pooled = (size + 2 * pad - kernel + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (pooled - 1) * stride >= size + pad:
        pooled -= 1
    return pooled


def pooling(layer, shapes: list[Shape]) -> nn.Module:
    p = layer.params("pooling_param", POOL_FIELDS)
    _needs_4d(layer, shapes[0])
    method = enum_value(p, "pool", POOL_METHODS, "MAX")
    if method == "STOCHASTIC":
        raise OneByOneError(f"{p.where}: STOCHASTIC pooling is not supported (MAX and AVE are)")
    if p.one("global_pooling", False):
        if p.has("kernel_size") or p.has("kernel_h") or p.has("kernel_w"):
            raise OneByOneError(f"{p.where}: global_pooling takes no kernel size")
        if _scalar_pair(p, "pad", 0) != (0, 0) or _scalar_pair(p, "stride", 1) != (1, 1):
            raise OneByOneError(f"{p.where}: global_pooling needs pad 0 and stride 1")
        return layers.GlobalPool(method)
    kernel, stride, pad = _kernel(p), _scalar_pair(p, "stride", 1), _scalar_pair(p, "pad", 0)
    for name, pair in (("kernel size", kernel), ("stride", stride)):
        if min(pair) < 1:
            raise OneByOneError(f"{p.where}: {name} {list(pair)} must be at least 1, as Caffe checks")
    ceil = enum_value(p, "round_mode", {"CEIL": 0, "FLOOR": 1}, "CEIL") == "CEIL"
    for axis, size in zip("HW", shapes[0][2:], strict=True):
        k, s, q = (v[0 if axis == "H" else 1] for v in (kernel, stride, pad))
        if q >= k:
            raise OneByOneError(f"{p.where}: pad {q} must be smaller than the kernel {k}, as Caffe checks")
        if 2 * q > k:
            raise OneByOneError(f"{p.where}: pad {q} over half the kernel {k} is not supported")
        caffe = caffe_pooled_size(size, k, s, q, ceil)
        if caffe != _torch_pooled_size(size, k, s, q, ceil) or caffe < 1:
            raise OneByOneError(
                f"{p.where}: at {axis} = {size} Caffe's last window (of {caffe}) starts "
                "past the input and reads nothing; onebyone does not reproduce that"
            )
    if method == "MAX":
        return nn.MaxPool2d(kernel, stride=stride, padding=pad, ceil_mode=ceil)
    # Caffe divides by the window clipped to the padded input: PyTorch's count_include_pad does the same.
    return nn.AvgPool2d(kernel, stride=stride, padding=pad, ceil_mode=ceil, count_include_pad=True)


def inner_product(layer, shapes: list[Shape]) -> nn.Module:
    p = layer.params(
        "inner_product_param",
        schema("num_output:uint bias_term:bool weight_filler:msg bias_filler:msg axis:int transpose:bool"),
    )
    if not p.one("num_output", 0):
        raise OneByOneError(f"{p.where}: num_output is required")
    axis = canonical_axis(p.one("axis", 1), len(shapes[0]), p.where)
    module = layers.InnerProduct(
        math.prod(shapes[0][axis:]),
        p.one("num_output"),
        bias=p.one("bias_term", True),
        axis=axis,
        flatten=len(shapes[0]) > axis + 1,
    )
    module.caffe_transposed = p.one("transpose", False)  # the stored blob is (K, N)
    return module


def relu(layer, shapes):
    slope = layer.params("relu_param", schema(f"negative_slope:float {_ENGINE}")).one("negative_slope", 0.0)
    return nn.ReLU() if slope == 0 else nn.LeakyReLU(slope)


def prelu(layer, shapes):
    p = layer.params("prelu_param", schema("filler:msg channel_shared:bool"))
    if len(shapes[0]) < 2:
        raise OneByOneError(f"{p.where}: PReLU needs a channel axis, got a {len(shapes[0])}-D bottom")
    shared = p.one("channel_shared", False)
    module = nn.PReLU(1 if shared else shapes[0][1], init=0.25)  # Caffe's default filler is 0.25 too
    module.caffe_shared = shared  # Caffe stores a shared slope as a 0-axis blob
    return module


def lrn(layer, shapes):
    p = layer.params(
        "lrn_param", schema(f"local_size:uint alpha:float beta:float norm_region:enum k:float {_ENGINE}")
    )
    size, alpha, beta = p.one("local_size", 5), p.one("alpha", 1.0), p.one("beta", 0.75)
    if size % 2 == 0:
        raise OneByOneError(f"{p.where}: local_size {size} must be odd, as Caffe requires")
    if (
        enum_value(p, "norm_region", {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1}, "ACROSS_CHANNELS")
        == "WITHIN_CHANNEL"
    ):
        _needs_4d(layer, shapes[0])
        return layers.WithinChannelLRN(size, alpha, beta)
    # torch's LocalResponseNorm is Caffe's: x / (k + α/n · Σ x²)^β over n channels centred on c.
    return nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=p.one("k", 1.0))


def dropout(layer, shapes):
    ratio = layer.params("dropout_param", schema("dropout_ratio:float")).one("dropout_ratio", 0.5)
    if not 0 <= ratio < 1:
        raise OneByOneError(f"{layer.where}: dropout_ratio must be in [0, 1), got {ratio}")
    return nn.Dropout(ratio)  # identity at test, as Caffe's


def batch_norm(layer, shapes):
    p = layer.params(
        "batch_norm_param", schema("use_global_stats:bool moving_average_fraction:float eps:float")
    )
    if len(shapes[0]) not in (2, 4):
        raise OneByOneError(f"{p.where}: BatchNorm of a {len(shapes[0])}-D bottom is not supported")
    kind = nn.BatchNorm2d if len(shapes[0]) == 4 else nn.BatchNorm1d
    # Caffe's default at TEST is the stored statistics; `use_global_stats: false` normalises each batch.
    return kind(
        shapes[0][1],
        eps=p.one("eps", 1e-5),
        affine=False,
        track_running_stats=p.one("use_global_stats", True),
    )


def scale(layer, shapes, *, multiplies: bool = True):
    fields = "axis:int num_axes:int filler:msg" + (" bias_term:bool bias_filler:msg" if multiplies else "")
    p = layer.params("scale_param" if multiplies else "bias_param", schema(fields))
    if len(shapes) > 2:
        raise OneByOneError(f"{p.where}: takes one or two bottoms, got {len(shapes)}")
    shape = shapes[0]
    axis = canonical_axis(p.one("axis", 1), len(shape), p.where) if len(shape) else 0
    if len(shapes) == 2:
        own = shapes[1]
    else:
        num_axes = p.one("num_axes", 1)
        if num_axes < -1:
            raise OneByOneError(f"{p.where}: num_axes must be -1 or more, got {num_axes}")
        end = len(shape) if num_axes == -1 else axis + num_axes
        if end > len(shape):
            raise OneByOneError(
                f"{p.where}: axis {axis} + num_axes {num_axes} run past the bottom's {len(shape)} axes"
            )
        own = tuple(shape[axis:end])
    if tuple(shape[axis : axis + len(own)]) != tuple(own):
        raise OneByOneError(
            f"{p.where}: a second bottom of shape {list(own)} does not match the first's "
            f"axes from {axis}: {list(shape)}"
        )
    trailing = len(shape) - axis - len(own)
    return layers.Scale(
        own,
        trailing,
        multiplies=multiplies,
        bias=multiplies and p.one("bias_term", False),
        two_bottoms=len(shapes) == 2,
    )


def softmax(layer, shapes):
    p = layer.params("softmax_param", schema(f"{_ENGINE} axis:int"))
    return layers.Softmax(canonical_axis(p.one("axis", 1), len(shapes[0]), p.where))


def power(layer, shapes):
    p = layer.params("power_param", schema("power:float scale:float shift:float"))
    return layers.Power(p.one("power", 1.0), p.one("scale", 1.0), p.one("shift", 0.0))


def _plain(module_type, param: str | None = None):
    def build(layer, shapes):
        if param:
            layer.params(param, schema(_ENGINE))
        return module_type()

    return build


LAYER_BUILDERS: dict[str, Callable] = {
    "Convolution": convolution,
    "Deconvolution": lambda layer, shapes: convolution(layer, shapes, transposed=True),
    "Pooling": pooling,
    "InnerProduct": inner_product,
    "ReLU": relu,
    "PReLU": prelu,
    "Sigmoid": _plain(nn.Sigmoid, "sigmoid_param"),
    "TanH": _plain(nn.Tanh, "tanh_param"),
    "LRN": lrn,
    "Dropout": dropout,
    "Concat": concat,
    "Eltwise": eltwise,
    "BatchNorm": batch_norm,
    "Scale": scale,
    "Bias": lambda layer, shapes: scale(layer, shapes, multiplies=False),
    "Softmax": softmax,
    "Flatten": flatten,
    "Reshape": reshape,
    "Split": split,
    "Slice": slice_layer,
    "Power": power,
}
