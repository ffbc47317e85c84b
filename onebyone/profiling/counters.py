"""Cost formulas for ATen ops, looked up by op name.

Two columns, kept apart so users can reconcile with other tools:

* **MACs** of the multiply-accumulate ops (convolution, mm, addmm, bmm, baddbmm, mv, addmv, dot,
  scaled dot-product attention), "paper" convention: one MAC per multiply-add, bias not included.
  This is exactly half of what `torch.utils.flop_counter` reports for the same ops.
* **Other FLOPs** of everything else, with the conventions written next to each table below
  (bias adds of conv/addmm, normalisation, pooling, activations, elementwise arithmetic, reductions).

An op found in neither a formula table nor `ZERO_COST_OPS` is *uncounted*: the profiler lists it by
name instead of silently counting it as 0. Names are the ATen overload-packet names with the
in-place underscore removed (`relu_` -> `relu`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

Formula = Callable[[Sequence, dict, list], "tuple[int, int]"]


def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(d) for d in shape)


def _conv(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    x, weight, bias = args[0], args[1], args[2]
    transposed = bool(args[6]) if len(args) > 6 else False
    kernel = _numel(weight.shape[2:])
    out = outs[0]
    if transposed:
        # weight is (C_in, C_out/groups, *k): each input element feeds C_out/groups outputs per tap.
        macs = x.numel() * weight.shape[1] * kernel
    else:
        macs = out.numel() * weight.shape[1] * kernel  # weight is (C_out, C_in/groups, *k)
    return macs, (out.numel() if bias is not None else 0)


def _mm(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    a, b = args[0], args[1]
    return a.shape[0] * a.shape[1] * b.shape[1], 0


def _addmm(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    a, b = args[1], args[2]
    return a.shape[0] * a.shape[1] * b.shape[1], outs[0].numel()


def _bmm(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    a, b = args[0], args[1]
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], 0


def _baddbmm(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    a, b = args[1], args[2]
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], outs[0].numel()


def _mv(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    return args[0].numel(), 0


def _addmv(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    return args[1].numel(), outs[0].numel()


def _dot(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    return args[0].numel(), 0


def _attention(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    # q (B, H, Lq, E), k (B, H, Lk, E), v (B, H, Lk, Ev): q @ k^T then softmax(...) @ v.
    q, k, v = args[0], args[1], args[2]
    batch = _numel(q.shape[:-2])
    lq, e, lk, ev = q.shape[-2], q.shape[-1], k.shape[-2], v.shape[-1]
    return batch * lq * lk * (e + ev), batch * lq * lk * 3  # softmax: exp, sum, divide


def _per_output(factor: int) -> Formula:
    def formula(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
        return 0, factor * outs[0].numel()

    return formula


def _per_input(factor: int) -> Formula:
    def formula(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
        return 0, factor * args[0].numel()

    return formula


def _batch_norm(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    # Inference folds to one multiply and one add per element; training also computes mean and
    # variance of the batch (two more per element). native_batch_norm's 6th argument is `training`;
    # _native_batch_norm_legit_no_training has none.
    training = len(args) > 5 and isinstance(args[5], bool) and args[5]
    return 0, (4 if training else 2) * args[0].numel()


def _pool(args: Sequence, kwargs: dict, outs: list) -> tuple[int, int]:
    # One FLOP per window element read (a compare for max, an add for average).
    return 0, outs[0].numel() * _numel(args[1])


# MAC ops: "paper" MACs, plus bias adds as other FLOPs.
MAC_OPS: dict[str, Formula] = {
    "convolution": _conv,
    "_convolution": _conv,
    "mm": _mm,
    "addmm": _addmm,
    "bmm": _bmm,
    "baddbmm": _baddbmm,
    "mv": _mv,
    "addmv": _addmv,
    "dot": _dot,
    "_scaled_dot_product_flash_attention_for_cpu": _attention,
    "_scaled_dot_product_flash_attention": _attention,
    "_scaled_dot_product_efficient_attention": _attention,
    "_scaled_dot_product_cudnn_attention": _attention,
}

# One FLOP per output element: activations and elementwise arithmetic.
_ELEMENTWISE = (
    "relu",
    "relu6",
    "gelu",
    "sigmoid",
    "tanh",
    "silu",
    "hardtanh",
    "hardswish",
    "hardsigmoid",
    "leaky_relu",
    "elu",
    "selu",
    "mish",
    "softplus",
    "prelu",
    "_prelu_kernel",
    "clamp",
    "clamp_min",
    "clamp_max",
    "threshold",
    "neg",
    "abs",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "reciprocal",
    "pow",
    "add",
    "sub",
    "rsub",
    "mul",
    "div",
    "maximum",
    "minimum",
    "where",
    "addcmul",
    "addcdiv",
    "lerp",
    "sign",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "floor",
    "ceil",
    "round",
    "erf",
    "sin",
    "cos",
    "square",
)

OTHER_OPS: dict[str, Formula] = {name: _per_output(1) for name in _ELEMENTWISE}
OTHER_OPS.update(
    {
        # Normalisation (per element): batch norm 2 in inference (see _batch_norm); layer and
        # group norm 5 (mean, variance, normalise, scale, shift).
        "native_batch_norm": _batch_norm,
        "_native_batch_norm_legit": _batch_norm,
        "_native_batch_norm_legit_no_training": _batch_norm,
        "native_layer_norm": _per_input(5),
        "native_group_norm": _per_input(5),
        # Pooling: window elements read per output.
        "max_pool1d": _pool,
        "max_pool2d": _pool,
        "max_pool3d": _pool,
        "max_pool2d_with_indices": _pool,
        "max_pool3d_with_indices": _pool,
        "avg_pool1d": _pool,
        "avg_pool2d": _pool,
        "avg_pool3d": _pool,
        # Adaptive pooling and reductions: one FLOP per input element.
        "adaptive_avg_pool1d": _per_input(1),
        "adaptive_avg_pool2d": _per_input(1),
        "_adaptive_avg_pool2d": _per_input(1),
        "adaptive_avg_pool3d": _per_input(1),
        "_adaptive_avg_pool3d": _per_input(1),
        "adaptive_max_pool1d": _per_input(1),
        "adaptive_max_pool2d": _per_input(1),
        "adaptive_max_pool3d": _per_input(1),
        "mean": _per_input(1),
        "sum": _per_input(1),
        "amax": _per_input(1),
        "amin": _per_input(1),
        "max": _per_input(1),
        "min": _per_input(1),
        "argmax": _per_input(1),
        "norm": _per_input(2),
        "linalg_vector_norm": _per_input(2),
        # Softmax: exp, sum and divide per element.
        "_softmax": _per_input(3),
        "_log_softmax": _per_input(3),
        "softmax": _per_input(3),
        "log_softmax": _per_input(3),
        # Training-mode dropout: draw, compare and scale per element.
        "native_dropout": _per_input(3),
    }
)

# Ops that move, view, allocate or copy data: seen (and counted as zero) on purpose.
ZERO_COST_OPS = frozenset(
    {
        "view",
        "_unsafe_view",
        "reshape",
        "t",
        "transpose",
        "permute",
        "expand",
        "squeeze",
        "unsqueeze",
        "flatten",
        "unflatten",
        "slice",
        "select",
        "narrow",
        "split",
        "split_with_sizes",
        "chunk",
        "unbind",
        "cat",
        "stack",
        "clone",
        "contiguous",
        "copy",
        "_to_copy",
        "to",
        "detach",
        "alias",
        "empty",
        "empty_like",
        "empty_strided",
        "zeros",
        "zeros_like",
        "ones",
        "ones_like",
        "full",
        "full_like",
        "fill",
        "zero",
        "new_empty",
        "new_empty_strided",
        "new_zeros",
        "new_ones",
        "new_full",
        "arange",
        "as_strided",
        "lift_fresh",
        "lift_fresh_copy",
        "constant_pad_nd",
        "index_select",
        "gather",
        "repeat",
        "expand_as",
        "view_as",
        "pixel_shuffle",
        "pixel_unshuffle",
        "channel_shuffle",
        "upsample_nearest1d",
        "upsample_nearest2d",
        "upsample_nearest3d",
        "_unsafe_index",
        "index",
        "roll",
        "flip",
        "masked_fill",
        "scalar_tensor",
        "_local_scalar_dense",
        "dropout",
        "feature_dropout",
        "movedim",
        "diagonal",
        "tril",
        "triu",
        "embedding",
    }
)


def op_name(func: torch._ops.OpOverload) -> str:
    """The table key of an ATen overload: packet name without the in-place underscore."""
    name = func.overloadpacket.__name__
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name


def count(name: str, args: Sequence, kwargs: dict, outs: list) -> tuple[int, int] | None:
    """(MACs, other FLOPs) of one op call, or None when the op has no formula (uncounted)."""
    formula = MAC_OPS.get(name) or OTHER_OPS.get(name)
    if formula is not None:
        macs, other = formula(args, kwargs, outs)
        return int(macs), int(other)
    if name in ZERO_COST_OPS:
        return 0, 0
    return None
