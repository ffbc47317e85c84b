"""Every supported Caffe layer kind: exact shapes, parameter counts and outputs against references.

The references are written from Caffe's definitions (pooling_layer.cpp, lrn_layer.cpp, caffe.proto
defaults) in plain numpy loops, independently of the torch modules the importer builds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from onebyone.caffe import build, parse_prototxt
from onebyone.errors import OneByOneError


def net(body: str, shape=(1, 3, 8, 8)) -> torch.nn.Module:
    dims = "".join(f"input_dim: {d} " for d in shape)
    return build(parse_prototxt(f'input: "data" {dims}\n{body}', "test.prototxt"))


def params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def caffe_pool(x: np.ndarray, kernel: int, stride: int, pad: int, mode: str) -> np.ndarray:
    """PoolingLayer::Forward_cpu, transcribed as loops: ceil output size, a last window starting in the
    padding dropped; AVE divides by the window clipped to the padded input (before clipping to the input)."""
    n, c, h, w = x.shape

    def size(s):
        pooled = math.ceil((s + 2 * pad - kernel) / stride) + 1
        return pooled - 1 if pad and (pooled - 1) * stride >= s + pad else pooled

    ph, pw = size(h), size(w)
    out = np.zeros((n, c, ph, pw))
    for i in range(ph):
        for j in range(pw):
            hs, ws = i * stride - pad, j * stride - pad
            he, we = min(hs + kernel, h + pad), min(ws + kernel, w + pad)
            pool_size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            window = x[:, :, hs:he, ws:we]
            pooled = window.max(axis=(2, 3)) if mode == "MAX" else window.sum(axis=(2, 3)) / pool_size
            out[:, :, i, j] = pooled
    return out


@pytest.mark.parametrize("mode", ["MAX", "AVE"])
@pytest.mark.parametrize(
    "side, kernel, stride, pad",
    [
        (54, 3, 2, 0),
        (112, 3, 2, 0),
        (13, 3, 2, 1),
        (7, 2, 2, 1),
        (10, 3, 3, 1),
        (9, 4, 3, 2),
    ],
)
def test_pooling_matches_caffe_loops(mode, side, kernel, stride, pad):
    module = net(
        f'layer {{ name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param {{ pool: {mode} '
        f"kernel_size: {kernel} stride: {stride} pad: {pad} }} }}",
        (2, 3, side, side),
    )
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(side), dtype=torch.float64)
    expected = caffe_pool(x.numpy(), kernel, stride, pad, mode)
    got = module.double()(x)
    assert tuple(got.shape) == expected.shape
    torch.testing.assert_close(got, torch.from_numpy(expected))


def test_ceil_pooling_gives_the_published_sides():
    # NIN: 54 -> 27 (floor would give 26); GoogLeNet: 112 -> 56 (floor: 55).
    for side, expected in ((54, 27), (112, 56), (27, 13), (13, 6)):
        module = net(
            'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAX '
            "kernel_size: 3 stride: 2 } }",
            (1, 1, side, side),
        )
        assert module.blob_shapes["p"] == (1, 1, expected, expected)


def test_round_mode_floor_and_global_pooling():
    module = net(
        'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAX '
        "kernel_size: 3 stride: 2 round_mode: FLOOR } }\n"
        'layer { name: "g" type: "Pooling" bottom: "p" top: "g" pooling_param { pool: AVE '
        "global_pooling: true } }",
        (1, 2, 54, 54),
    )
    assert module.blob_shapes["p"] == (1, 2, 26, 26) and module.blob_shapes["g"] == (1, 2, 1, 1)
    x = torch.randn(1, 2, 54, 54)
    p = torch.nn.functional.max_pool2d(x, 3, 2)
    torch.testing.assert_close(module(x), p.mean(dim=(2, 3), keepdim=True))


def test_a_window_that_starts_past_the_input_is_refused():
    with pytest.raises(OneByOneError, match="reads nothing"):
        net(
            'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAX '
            "kernel_size: 1 stride: 3 } }",
            (1, 1, 5, 5),
        )


def caffe_lrn(x: np.ndarray, size: int, alpha: float, beta: float, k: float, region: str) -> np.ndarray:
    n, c, h, w = x.shape
    pre = (size - 1) // 2
    out = np.empty_like(x)
    if region == "ACROSS_CHANNELS":
        for ch in range(c):
            lo, hi = max(ch - pre, 0), min(ch - pre + size, c)
            scale = k + alpha / size * (x[:, lo:hi] ** 2).sum(axis=1)
            out[:, ch] = x[:, ch] * scale**-beta
        return out
    padded = np.pad(x**2, ((0, 0), (0, 0), (pre, pre), (pre, pre)))
    for i in range(h):
        for j in range(w):
            mean = padded[:, :, i : i + size, j : j + size].sum(axis=(2, 3)) / size**2
            out[:, :, i, j] = x[:, :, i, j] * (1 + alpha * mean) ** -beta
    return out


@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
def test_lrn_matches_caffe(region):
    module = net(
        f'layer {{ name: "n" type: "LRN" bottom: "data" top: "n" lrn_param {{ local_size: 5 '
        f"alpha: 0.0001 beta: 0.75 k: 2 norm_region: {region} }} }}",
        (2, 7, 6, 6),
    )
    x = torch.randn(2, 7, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 30
    expected = caffe_lrn(x.numpy(), 5, 1e-4, 0.75, 2.0, region)
    torch.testing.assert_close(module.double()(x), torch.from_numpy(expected))


def test_convolution_settings_and_counts():
    module = net(
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { '
        "num_output: 6 kernel_h: 3 kernel_w: 1 stride: 2 pad: 1 group: 3 bias_term: false } }\n"
        'layer { name: "d" type: "Convolution" bottom: "c" top: "d" convolution_param { '
        "num_output: 4 kernel_size: 3 dilation: 2 pad: 2 } }\n"
        'layer { name: "t" type: "Deconvolution" bottom: "d" top: "t" convolution_param { '
        "num_output: 2 kernel_size: 4 stride: 2 pad: 1 } }",
        (1, 3, 9, 9),
    )
    assert module.blob_shapes["c"] == (1, 6, 5, 6)  # H: (9 + 2 − 3) / 2 + 1; W: (9 + 2 − 1) / 2 + 1
    assert module.blob_shapes["d"] == (1, 4, 5, 6)  # dilated 3×3 spans 5
    assert module.blob_shapes["t"] == (1, 2, 10, 12)  # 2 · (in − 1) + 4 − 2
    assert params(module) == 6 * 1 * 3 * 1 + (4 * 6 * 9 + 4) + (4 * 2 * 16 + 2)


def test_inner_product_flattens_from_its_axis():
    module = net(
        'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { '
        "num_output: 5 } }\n"
        'layer { name: "fc2" type: "InnerProduct" bottom: "data" top: "fc2" inner_product_param { '
        "num_output: 4 axis: 2 } }\n"
        'layer { name: "s" type: "Softmax" bottom: "fc" top: "s" }',
        (2, 3, 4, 4),
    )
    assert module.blob_shapes["fc"] == (2, 5) and module.blob_shapes["fc2"] == (2, 3, 4)
    assert params(module) == 48 * 5 + 5 + 16 * 4 + 4
    x = torch.randn(2, 3, 4, 4)
    fc = module.get_submodule("fc")
    torch.testing.assert_close(module(x), torch.softmax(x.flatten(1) @ fc.weight.T + fc.bias, 1))


def test_activations_dropout_power():
    module = net(
        'layer { name: "r" type: "ReLU" bottom: "data" top: "r" relu_param { negative_slope: 0.1 '
        "} }\n"
        'layer { name: "s" type: "Sigmoid" bottom: "r" top: "s" }\n'
        'layer { name: "t" type: "TanH" bottom: "s" top: "t" }\n'
        'layer { name: "d" type: "Dropout" bottom: "t" top: "t" dropout_param { dropout_ratio: '
        "0.3 } }\n"
        'layer { name: "p" type: "Power" bottom: "t" top: "p" power_param { power: 2 scale: 3 '
        "shift: 1 } }\n"
        'layer { name: "pr" type: "PReLU" bottom: "p" top: "pr" }',
        (2, 3, 2, 2),
    )
    assert params(module) == 3  # PReLU: one slope per channel
    x = torch.randn(2, 3, 2, 2)
    y = (1 + 3 * torch.tanh(torch.sigmoid(torch.where(x > 0, x, 0.1 * x)))) ** 2
    torch.testing.assert_close(module(x), torch.where(y > 0, y, 0.25 * y))


def test_batch_norm_and_scale_and_bias():
    module = net(
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" '
        "batch_norm_param { eps: 0.001 } }\n"
        'layer { name: "sc" type: "Scale" bottom: "data" top: "data" scale_param { bias_term: '
        "true } }\n"
        'layer { name: "b" type: "Bias" bottom: "data" top: "b" bias_param { axis: 2 num_axes: 2 '
        "} }",
        (2, 3, 4, 5),
    )
    assert params(module) == 3 + 3 + 4 * 5  # BatchNorm's statistics are buffers, not parameters
    bn, sc, b = (module.get_submodule(n) for n in ("bn", "sc", "b"))
    bn.running_mean.copy_(torch.tensor([1.0, 2, 3]))
    bn.running_var.copy_(torch.tensor([4.0, 5, 6]))
    sc.weight.data.copy_(torch.tensor([2.0, 3, 4]))
    sc.bias.data.copy_(torch.tensor([0.5, 0.25, 1]))
    b.bias.data.copy_(torch.arange(20.0).reshape(4, 5))
    x = torch.randn(2, 3, 4, 5)

    def c(values):
        return torch.tensor(values).reshape(1, 3, 1, 1)

    expected = (x - c([1.0, 2, 3])) / torch.sqrt(c([4.0, 5, 6]) + 1e-3) * c([2.0, 3, 4]) + c([0.5, 0.25, 1])
    torch.testing.assert_close(module(x), expected + torch.arange(20.0).reshape(4, 5))


def test_scale_by_a_second_bottom():
    module = net(
        'layer { name: "g" type: "Pooling" bottom: "data" top: "g" pooling_param { pool: AVE '
        "global_pooling: true } }\n"
        'layer { name: "f" type: "Flatten" bottom: "g" top: "f" }\n'
        'layer { name: "sc" type: "Scale" bottom: "data" bottom: "f" top: "y" scale_param { '
        "axis: 0 } }",
        (2, 3, 4, 4),
    )
    assert params(module) == 0 and module.blob_shapes["f"] == (2, 3)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(module(x), x * x.mean(dim=(2, 3), keepdim=True))


def test_concat_eltwise_split_slice_reshape_flatten():
    module = net(
        'layer { name: "sp" type: "Split" bottom: "data" top: "a" top: "b" }\n'
        'layer { name: "sl" type: "Slice" bottom: "a" top: "a1" top: "a2" slice_param { '
        "slice_point: 1 } }\n"
        'layer { name: "cat" type: "Concat" bottom: "a2" bottom: "a1" top: "c" }\n'
        'layer { name: "sum" type: "Eltwise" bottom: "c" bottom: "b" top: "s" '
        "eltwise_param { operation: SUM coeff: 2 coeff: -1 } }\n"
        'layer { name: "prod" type: "Eltwise" bottom: "s" bottom: "b" top: "p" eltwise_param { '
        "operation: PROD } }\n"
        'layer { name: "max" type: "Eltwise" bottom: "p" bottom: "b" top: "m" eltwise_param { '
        "operation: MAX } }\n"
        'layer { name: "rs" type: "Reshape" bottom: "m" top: "r" reshape_param { shape { dim: 0 '
        "dim: -1 dim: 2 } } }\n"
        'layer { name: "fl" type: "Flatten" bottom: "r" top: "f" flatten_param { axis: 1 '
        "end_axis: 1 } }",
        (2, 3, 2, 2),
    )
    assert module.blob_shapes["a1"] == (2, 1, 2, 2) and module.blob_shapes["r"] == (2, 6, 2)
    assert module.blob_shapes["f"] == (2, 6, 2)
    x = torch.randn(2, 3, 2, 2)
    c = torch.cat([x[:, 1:], x[:, :1]], 1)
    p = (2 * c - x) * x
    torch.testing.assert_close(module(x), torch.maximum(p, x).reshape(2, 6, 2))


def test_in_place_layers_and_module_names():
    module = net(
        'layer { name: "inception_3a/1x1" type: "Convolution" bottom: "data" top: "x" '
        "convolution_param { num_output: 2 kernel_size: 1 } }\n"
        'layer { name: "inception_3a/relu_1x1" type: "ReLU" bottom: "x" top: "x" }\n'
        'layer { name: "1x1" type: "Convolution" bottom: "x" top: "y" convolution_param { '
        "num_output: 2 kernel_size: 1 } }"
    )
    names = [name for name, _ in module.named_children()]
    assert names == ["inception_3a_1x1", "inception_3a_relu_1x1", "layer_1x1"]
    assert module.caffe_names["layer_1x1"] == "1x1"
    traced = torch.fx.symbolic_trace(module)
    x = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(traced(x), module(x))
    conv = module.get_submodule("inception_3a_1x1")
    assert bool((module.get_submodule("layer_1x1")(conv(x).relu()) == module(x)).all())
