"""Claims C1, C2, C15: what a 1×1 convolution computes."""

import pytest
import torch

from onebyone.layers import ConvNormAct, Pointwise, pointwise


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_c1_single_channel_pointwise_is_scale_and_shift():
    torch.manual_seed(0)
    conv = Pointwise(1, 1)
    x = torch.randn(2, 1, 7, 5)
    w, b = conv.weight.reshape(()), conv.bias.reshape(())
    torch.testing.assert_close(conv(x), w * x + b)


@pytest.mark.parametrize("in_channels, out_channels", [(3, 5), (16, 4), (8, 32)])
def test_c1_multi_channel_pointwise_is_per_pixel_matrix_product(in_channels, out_channels):
    torch.manual_seed(0)
    conv = pointwise(in_channels, out_channels)
    x = torch.randn(2, in_channels, 6, 9)
    matrix = conv.weight[:, :, 0, 0]  # (out, in)
    expected = torch.einsum("oc,nchw->nohw", matrix, x) + conv.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(conv(x), expected)


@pytest.mark.parametrize("filters", [1, 64, 256, 1024])
def test_c2_pointwise_changes_depth_keeps_size(filters):
    with torch.device("meta"):
        conv = Pointwise(512, filters)
        out = conv(torch.empty(1, 512, 100, 100))
    assert tuple(out.shape) == (1, filters, 100, 100)
    assert n_params(conv) == (512 + 1) * filters


def test_pointwise_without_bias_and_stride():
    conv = Pointwise(4, 6, stride=2, bias=False)
    assert conv.bias is None and conv.kernel_size == (1, 1)
    assert conv(torch.randn(1, 4, 9, 9)).shape == (1, 6, 5, 5)


@pytest.mark.parametrize("in_channels", [3, 16])
def test_c15_3x3_then_1x1_is_one_3x3_with_composed_kernel(in_channels):
    torch.manual_seed(0)
    conv3x3 = torch.nn.Conv2d(in_channels, 64, 3, padding=1)
    conv1x1 = Pointwise(64, 28)
    mix = conv1x1.weight[:, :, 0, 0]  # (28, 64)
    composed = torch.nn.Conv2d(in_channels, 28, 3, padding=1)
    with torch.no_grad():
        composed.weight.copy_(torch.einsum("om,mikl->oikl", mix, conv3x3.weight))
        composed.bias.copy_(mix @ conv3x3.bias + conv1x1.bias)
    x = torch.randn(2, in_channels, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(conv1x1(conv3x3(x)), composed(x), rtol=1e-4, atol=1e-5)
    # Parameters: the factored form stores the 64-wide intermediate, the composed one does not.
    assert n_params(conv3x3) + n_params(conv1x1) == (9 * in_channels * 64 + 64) + (64 * 28 + 28)
    assert n_params(composed) == 9 * in_channels * 28 + 28


@pytest.mark.parametrize(
    "batch_norm, bias, expected_children, expected_params",
    [
        # conv 3×3 4→8 with bias: 288 + 8
        (False, None, ["conv", "act"], 296),
        # BN drops the bias by default: 288 weights + BN's 8 + 8
        (True, None, ["conv", "bn", "act"], 304),
        (True, True, ["conv", "bn", "act"], 312),
    ],
)
def test_conv_norm_act_layout(batch_norm, bias, expected_children, expected_params):
    unit = ConvNormAct(4, 8, 3, batch_norm=batch_norm, bias=bias)
    assert [name for name, _ in unit.named_children()] == expected_children
    assert n_params(unit) == expected_params
    assert unit(torch.randn(2, 4, 5, 5)).shape == (2, 8, 5, 5)


def test_conv_norm_act_without_activation_is_linear():
    unit = ConvNormAct(2, 3, 1, activation=None)
    assert [name for name, _ in unit.named_children()] == ["conv"]
    x = torch.randn(1, 2, 3, 3)
    torch.testing.assert_close(unit(2 * x) - unit(x), unit(x) - unit(0 * x))
