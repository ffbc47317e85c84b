"""Layers recognised by what they compute: subclasses probed, activations by kind, SAME padding."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from onebyone.graph import layer_kinds


class OwnLinear(nn.Linear):
    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class ScaledLinear(nn.Linear):
    def forward(self, x):
        return 2 * F.linear(x, self.weight, self.bias)


def test_a_linear_subclass_counts_only_when_it_computes_a_linear_layer():
    assert layer_kinds.is_linear(nn.Linear(3, 2))
    assert layer_kinds.is_linear(OwnLinear(3, 2))
    assert not layer_kinds.is_linear(ScaledLinear(3, 2))
    assert not layer_kinds.is_linear(nn.Conv2d(3, 2, 1))


@pytest.mark.parametrize(
    ("module", "kind"),
    [
        (nn.ReLU(), "relu"),
        (nn.ReLU6(), "relu6"),  # a Hardtanh subclass: the most derived class in the table wins
        (nn.Hardswish(), "hardswish"),
        (nn.Hardtanh(0.0, 1.0), "hardtanh"),
        (nn.Hardtanh(), None),  # clips at −1: no zeros from non-zero inputs
        (nn.Threshold(0.1, 0.0), "threshold"),
        (nn.Threshold(0.1, 5.0), None),
        (nn.GELU(), None),
        (nn.SiLU(), None),
        (type("MyReLU", (nn.ReLU,), {})(), "relu"),
    ],
)
def test_zero_kinds_of_modules(module, kind):
    assert layer_kinds.zero_kind(module) == kind


@pytest.mark.parametrize(
    ("func", "args", "kwargs", "kind"),
    [
        (F.relu, (None,), {}, "relu"),
        (torch.Tensor.relu_, (None,), {}, "relu"),
        (F.relu6, (None,), {}, "relu6"),
        (F.hardtanh, (None, 0.0, 6.0), {}, "hardtanh"),
        (F.hardtanh, (None,), {}, None),
        (torch.Tensor.clamp, (None,), {"min": 0}, "clamp"),
        (torch.clamp, (None, 0, 6), {}, "clamp"),
        (torch.clamp, (None, -1), {}, None),
        (torch.Tensor.clamp, (None,), {"max": 0}, None),
        (F.threshold, (None, 0.5, 0.0), {}, "threshold"),
        (F.gelu, (None,), {}, None),
    ],
)
def test_zero_kinds_of_calls(func, args, kwargs, kind):
    assert layer_kinds.zero_kind_of_call(func, args, kwargs) == kind


def test_trace_keeps_subclasses_whole():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), OwnLinear(8, 2))
    modules = [n.target for n in layer_kinds.trace(model).graph.nodes if n.op == "call_module"]
    assert modules == ["0", "1", "2"]


class BatchNormThenTanh(nn.BatchNorm2d):
    def __init__(self, channels):
        super().__init__(channels)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(super().forward(x))


class BatchNormPlusOne(nn.BatchNorm2d):
    def forward(self, x):
        return super().forward(x) + 1


def test_what_a_batch_norm_applies_after_normalising():
    assert isinstance(layer_kinds.batch_norm_then(nn.BatchNorm2d(3).eval()), nn.Identity)
    assert isinstance(layer_kinds.batch_norm_then(BatchNormThenTanh(3).eval()), nn.Tanh)
    assert layer_kinds.batch_norm_then(BatchNormPlusOne(3).eval()) is None  # not its children's work
    assert layer_kinds.batch_norm_then(nn.BatchNorm2d(3, track_running_stats=False)) is None


class SameConv(nn.Conv2d):
    """TensorFlow SAME padding from the input size (timm's Conv2dSame)."""

    def forward(self, x):
        pad = layer_kinds.same_padding(tuple(x.shape[-2:]), self)
        return F.conv2d(F.pad(x, pad), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad"),
    [(8, 3, 1, (1, 1, 1, 1)), (8, 3, 2, (0, 1, 0, 1)), (9, 3, 2, (1, 1, 1, 1)), (8, 4, 1, (1, 2, 1, 2))],
)
def test_same_padding(size, kernel, stride, pad):
    assert layer_kinds.same_padding((size, size), nn.Conv2d(1, 1, kernel, stride)) == pad


@pytest.mark.parametrize(("size", "stride", "explicit"), [(8, 1, False), (8, 2, True), (9, 2, False)])
def test_a_same_padding_conv_as_a_plain_conv(size, stride, explicit):
    torch.manual_seed(0)
    conv = SameConv(2, 3, 3, stride=stride).eval()
    plain = layer_kinds.plain_conv2d(conv, (1, 2, size, size))
    assert type(plain.conv) is nn.Conv2d and (plain.pad is not None) == explicit
    assert plain.fixed_at == ((size, size) if stride > 1 else None)
    x = torch.randn(2, 2, size, size)
    padded = F.pad(x, plain.pad) if plain.pad else x
    assert_close(plain.conv(padded), conv(x))


def test_a_conv_subclass_that_computes_something_else_is_not_understood():
    class Doubled(nn.Conv2d):
        def forward(self, x):
            return 2 * super().forward(x)

    assert layer_kinds.plain_conv2d(Doubled(1, 1, 3), (1, 1, 8, 8)) is None
    assert layer_kinds.plain_conv2d(nn.Conv2d(1, 1, 3), (1, 1, 8, 8)).pad is None


def test_a_layer_norm_over_channels():
    class LayerNorm2d(nn.LayerNorm):
        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    assert layer_kinds.normalizes_channels(LayerNorm2d(4), 4)
    assert not layer_kinds.normalizes_channels(nn.LayerNorm(4), 4)  # over the last axis
