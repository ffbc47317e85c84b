"""The inverted bottleneck (MBConv) and TensorFlow's "SAME" padding."""

import pytest
import torch
from torch import fx, nn

from onebyone.errors import OneByOneError
from onebyone.layers import ConvNormAct, InvertedResidual, SamePad2d, same_padding


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "in_channels, out_channels, kernel, stride, expand, children, residual",
    [
        (16, 16, 3, 1, 6, ["expand", "depthwise", "project"], True),
        (16, 24, 5, 2, 6, ["expand", "depthwise", "project"], False),
        (32, 16, 3, 1, 1, ["depthwise", "project"], False),  # EfficientNet's first block: no expansion
        (24, 24, 3, 2, 4, ["expand", "depthwise", "project"], False),  # stride 2: no shortcut
    ],
)
def test_layout_and_parameters(in_channels, out_channels, kernel, stride, expand, children, residual):
    block = InvertedResidual(in_channels, out_channels, kernel, stride=stride, expand_ratio=expand)
    hidden = in_channels * expand
    # weights C_in·E (if expanding) + k²·E + E·C_out, no conv biases; BN: 2 per channel
    expected = kernel * kernel * hidden + 2 * hidden + hidden * out_channels + 2 * out_channels
    if expand != 1:
        expected += in_channels * hidden + 2 * hidden
    assert [name for name, child in block.named_children() if child is not None] == children
    assert n_params(block) == expected
    assert block.residual is residual
    assert block.depthwise.conv.groups == hidden and block.depthwise.conv.kernel_size == (kernel, kernel)
    assert isinstance(block.depthwise.act, nn.ReLU6) and not hasattr(block.project, "act")
    out = block(torch.randn(2, in_channels, 9, 9))
    assert out.shape == (2, out_channels, 9 if stride == 1 else 5, 9 if stride == 1 else 5)


def test_residual_adds_the_input():
    """With the projection's BN scaled to zero the block returns its input exactly (or zeros)."""
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    for out_channels, expected in ((8, x), (12, torch.zeros(2, 12, 6, 6))):
        block = InvertedResidual(8, out_channels, 3).eval()
        nn.init.zeros_(block.project.bn.weight)
        with torch.no_grad():
            torch.testing.assert_close(block(x), expected)


def test_bad_expand_ratio():
    with pytest.raises(OneByOneError, match="expand_ratio must be an integer ≥ 1, got 0"):
        InvertedResidual(8, 8, expand_ratio=0)


@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [
        (224, 3, 2, (0, 1)),
        (225, 3, 2, (1, 1)),
        (28, 5, 2, (1, 2)),
        (7, 3, 1, (1, 1)),
        (5, 1, 2, (0, 0)),
        (14, 5, 1, (2, 2)),
        (2, 3, 2, (0, 1)),
    ],
)
def test_same_padding_table(size, kernel, stride, expected):
    before, after = same_padding(size, kernel, stride)
    assert (before, after) == expected
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)  # ceil(size / stride)


@pytest.mark.parametrize("size, rows", [(8, [1, 3, 5, 7]), (9, [0, 2, 4, 6, 8])])
def test_same_padding_samples_as_tensorflow(size, rows):
    """A 3×3 stride-2 conv that copies its centre tap: on an even input TF's SAME reads rows 1, 3, …
    (one pixel further down than PyTorch's symmetric padding, which reads 0, 2, …)."""
    conv = ConvNormAct(1, 1, 3, stride=2, padding="same", activation=None, bias=False)
    assert [name for name, _ in conv.named_children()] == ["pad", "conv"]
    with torch.no_grad():
        conv.conv.weight.zero_()
        conv.conv.weight[0, 0, 1, 1] = 1.0
        x = torch.arange(size, dtype=torch.float32).repeat(size, 1).T.reshape(1, 1, size, size)  # x[i, j] = i
        out = conv(x)
    assert out[0, 0, :, 0].tolist() == rows


def test_same_padding_at_stride_1_is_plain_padding():
    conv = ConvNormAct(4, 4, 5, padding="same")
    assert [name for name, _ in conv.named_children()] == ["conv", "act"] and conv.conv.padding == (2, 2)


def test_same_pad_traces_as_one_node_for_every_size():
    model = nn.Sequential(SamePad2d(3, 2), nn.Conv2d(2, 3, 3, stride=2))
    traced = fx.symbolic_trace(model)
    calls = [node.target.__name__ for node in traced.graph.nodes if node.op == "call_function"]
    assert calls == ["pad_same"]
    for size in (8, 9, 30):
        x = torch.randn(1, 2, size, size)
        torch.testing.assert_close(traced(x), model(x))
        assert traced(x).shape[-1] == -(-size // 2)
