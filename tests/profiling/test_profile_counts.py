"""Exact MACs, parameters and other FLOPs per layer kind, and the bookkeeping around them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from onebyone.errors import OneByOneError as BaseError
from onebyone.profiling import profile


class Fn(nn.Module):
    """Wrap a function of the input as a module (functional calls, operators)."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class SharedTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(self.conv(x))


class Functional(nn.Module):
    """F.conv2d with its own weight, then F.relu and torch.sigmoid: no child modules at all."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(6, 3, 3, 3))

    def forward(self, x):
        return torch.sigmoid(F.relu(F.conv2d(x, self.weight)))


class Tied(nn.Module):
    """Two Linear layers sharing one weight tensor (counted once)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8, bias=False)
        self.b = nn.Linear(8, 8, bias=False)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)

    def forward(self, x):
        return self.conv(x) + x


# (module, input shape, MACs, params, other FLOPs); every expected value worked out by hand.
CASES = [
    ("conv bias", nn.Conv2d(3, 8, 3, padding=1), (1, 3, 8, 8), 512 * 3 * 9, 8 * 27 + 8, 512),
    ("conv no bias", nn.Conv2d(3, 8, 3, padding=1, bias=False), (1, 3, 8, 8), 512 * 27, 216, 0),
    ("conv grouped", nn.Conv2d(8, 16, 3, groups=4, bias=False), (1, 8, 6, 6), 16 * 16 * 2 * 9, 288, 0),
    ("conv dilated", nn.Conv2d(2, 4, 3, dilation=2, bias=False), (1, 2, 9, 9), 4 * 25 * 2 * 9, 72, 0),
    ("conv strided", nn.Conv2d(4, 4, 3, stride=2, padding=1, bias=False), (2, 4, 8, 8), 2 * 64 * 36, 144, 0),
    ("conv 1x1", nn.Conv2d(16, 8, 1), (1, 16, 5, 5), 200 * 16, 16 * 8 + 8, 200),
    ("conv transposed", nn.ConvTranspose2d(4, 2, 2, stride=2, bias=False), (1, 4, 3, 3), 36 * 2 * 4, 32, 0),
    ("conv1d", nn.Conv1d(2, 3, 3, bias=False), (1, 2, 10), 3 * 8 * 2 * 3, 18, 0),
    ("linear", nn.Linear(10, 5), (3, 10), 3 * 10 * 5, 55, 15),
    ("linear 3d no bias", nn.Linear(10, 5, bias=False), (2, 4, 10), 2 * 4 * 10 * 5, 50, 0),
    ("matmul", Fn(lambda x: x @ x.transpose(-1, -2)), (2, 3, 4), 2 * 3 * 4 * 3, 0, 0),
    ("mm 2d", Fn(lambda x: torch.mm(x, x.t())), (3, 5), 3 * 5 * 3, 0, 0),
    ("batch norm (eval)", nn.BatchNorm2d(4), (1, 4, 5, 5), 0, 8, 2 * 100),
    ("max pool", nn.MaxPool2d(2), (1, 3, 8, 8), 0, 0, 48 * 4),
    ("avg pool", nn.AvgPool2d(3, stride=1, padding=1), (1, 2, 4, 4), 0, 0, 32 * 9),
    ("max pool ceil", nn.MaxPool2d(3, stride=2, ceil_mode=True), (1, 1, 6, 6), 0, 0, 9 * 9),
    ("global avg pool", nn.AdaptiveAvgPool2d(1), (1, 4, 6, 6), 0, 0, 144),
    ("mean over H, W", Fn(lambda x: x.mean((2, 3))), (1, 4, 6, 6), 0, 0, 144),
    ("relu", nn.ReLU(), (1, 4, 5, 5), 0, 0, 100),
    ("add", Fn(lambda x: x + x), (1, 4, 5, 5), 0, 0, 100),
    ("mul scalar", Fn(lambda x: x * 2), (1, 4, 5, 5), 0, 0, 100),
    ("cat", Fn(lambda x: torch.cat([x, x], dim=1)), (1, 4, 5, 5), 0, 0, 0),
    ("flatten", nn.Flatten(), (1, 4, 5, 5), 0, 0, 0),
    ("residual 1x1 + add", Residual(), (1, 4, 5, 5), 100 * 4, 16, 100),
    ("shared module twice", SharedTwice(), (1, 4, 5, 5), 2 * 100 * 36, 144, 0),
    ("functional calls", Functional(), (1, 3, 5, 5), 6 * 9 * 27, 162, 2 * 54),
    ("tied weights", Tied(), (2, 8), 2 * 2 * 8 * 8, 64, 0),
]


@pytest.mark.parametrize(
    ("module", "shape", "macs", "params", "other"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_exact_counts(module, shape, macs, params, other):
    result = profile(module, shape)
    totals = result.totals
    assert totals["macs"] == macs
    assert totals["params"] == params
    assert totals["other_flops"] == other
    assert totals["uncounted"] == {}
    # Totals are the sums of the rows.
    for key in ("macs", "params", "other_flops", "activation_bytes"):
        assert totals[key] == sum(getattr(r, key) for r in result.rows)


def test_shared_module_is_one_row_per_call_and_params_once():
    result = profile(SharedTwice(), (1, 4, 5, 5))
    calls = [r for r in result.rows if r.path == "conv"]
    assert [r.call for r in calls] == [0, 1]
    assert [r.macs for r in calls] == [3600, 3600]
    assert [r.params for r in calls] == [144, 0]


def test_unknown_op_is_listed_not_zero():
    result = profile(Fn(lambda x: torch.cumsum(x, dim=1) + x), (1, 4, 5))
    assert result.totals["uncounted"] == {"cumsum": 1}
    assert result.totals["other_flops"] == 20  # the add is still counted


def test_frozen_and_uncalled_parameters():
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 2)
            self.used.bias.requires_grad_(False)

        def forward(self, x):
            return self.used(x)

    result = profile(Model(), (1, 4))
    totals = result.totals
    assert (totals["params"], totals["trainable_params"], totals["frozen_params"]) == (30, 26, 4)
    unused = [r for r in result.rows if r.path == "unused"]
    assert len(unused) == 1 and unused[0].call is None and unused[0].params == 10


def test_model_is_left_untouched():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    profile(model, (2, 3, 8, 8))
    assert model.training and all(m.training for m in model.modules())
    assert list(model.parameters()) == params
    assert all(p.device.type == "cpu" for p in model.parameters())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_example_inputs_and_output_shape():
    result = profile(nn.Conv2d(3, 4, 3), example_inputs=(torch.randn(2, 3, 7, 7),))
    assert result.input_shapes == [[2, 3, 7, 7]]
    assert result.totals["output_shape"] == [2, 4, 5, 5]


def test_pointwise_tagging_and_shares():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Conv2d(8, 4, 1, bias=False))
    result = profile(model, (1, 3, 4, 4))
    rows = {r.path: r for r in result.rows}
    assert rows["1"].is_pointwise_conv and not rows["0"].is_pointwise_conv
    totals = result.totals
    assert totals["pointwise_params"] == 32 and totals["pointwise_macs"] == 16 * 32
    assert totals["macs"] == 16 * 8 * 27 + 16 * 32


def test_peak_memory_follows_lifetimes():
    # Each ReLU output is 64 KiB; while the next is computed the previous one and the input are
    # alive, so the peak is three tensors however long the chain is.
    size = 1 * 1 * 128 * 128 * 4
    for length in (2, 5):
        result = profile(nn.Sequential(*[nn.ReLU() for _ in range(length)]), (1, 1, 128, 128))
        assert result.peak_activation_bytes == 3 * size
        assert result.totals["activation_bytes"] == length * size


def test_inplace_ops_allocate_nothing():
    result = profile(nn.Sequential(nn.ReLU(inplace=True), nn.ReLU(inplace=True)), (1, 1, 16, 16))
    assert result.totals["activation_bytes"] == 0
    assert result.peak_activation_bytes == 16 * 16 * 4


@pytest.mark.parametrize("bad", [None, (1, 0, 4), ("a", 3)])
def test_bad_arguments(bad):
    with pytest.raises(BaseError):
        profile(nn.ReLU(), bad)


def test_json_round_trip():
    import json

    result = profile(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (1, 3, 8, 8))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["schema_version"] == 1
    assert data["totals"]["macs"] == result.totals["macs"]
    assert len(data["rows"]) == len(result.rows)


def test_tensors_created_in_forward_stay_on_meta():
    class Positional(nn.Module):
        def forward(self, x):  # (N, C, L)
            pos = torch.arange(x.shape[-1], dtype=x.dtype)
            big = torch.zeros(1, 1, x.shape[-1])  # would be a real allocation without the rewrite
            return (x + pos) * torch.tensor([1.0, 2.0, 3.0, 4.0]) + big.cpu()

    result = profile(Positional(), (1, 2, 4))
    assert result.totals["other_flops"] == 3 * 8
    assert result.totals["output_shape"] == [1, 2, 4]


def test_exported_from_the_package():
    import onebyone

    assert onebyone.profile is profile and "profile" in onebyone.__all__
