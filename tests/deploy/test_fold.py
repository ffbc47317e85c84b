"""Batch-norm folding: exact within float tolerance, original untouched, every zoo model."""

import pytest
import torch
from torch import nn

from onebyone.deploy import fold_batchnorm, optimize
from onebyone.errors import OneByOneError
from onebyone.models import create_model, get_model_entry, list_models


def _randomise_bn(model: nn.Module, seed: int = 0) -> None:
    """Give every BN non-trivial statistics and affine parameters, as training would."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


class Branchy(nn.Module):
    """conv→bn pairs, plus a conv whose output feeds both a BN and a skip (must not fold)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(8)
        self.conv_b = nn.Conv2d(8, 8, 1)
        self.bn_b = nn.BatchNorm2d(8)

    def forward(self, x):
        y = torch.relu(self.bn_a(self.conv_a(x)))
        z = self.conv_b(y)
        return self.bn_b(z) + z  # z is read twice: folding bn_b into conv_b would change the skip


def test_fold_is_exact_and_skips_shared_outputs():
    model = Branchy()
    _randomise_bn(model)
    model.eval()
    x = torch.randn(2, 3, 16, 16)
    folded, report = fold_batchnorm(model)
    assert report.folded == [("conv_a", "bn_a")]
    assert report.kept == ["bn_b"]
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    assert isinstance(model.bn_a, nn.BatchNorm2d), "the original model must not change"


def test_sequential_fallback_for_untraceable_models():
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow defeats fx
                return self.body(x)
            return self.body(-x)

    model = Untraceable()
    _randomise_bn(model)
    model.eval()
    folded, report = fold_batchnorm(model)
    assert report.method == "sequential"
    assert report.folded == [("body.0", "body.1")]
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)


def _models_with_bn():
    names = []
    for name in list_models():
        with torch.device("meta"):
            model = create_model(name)
        if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
            names.append(name)
    return names


@pytest.mark.parametrize("name", _models_with_bn())
def test_fold_every_zoo_model_with_bn(name):
    torch.manual_seed(0)
    model = create_model(name)
    _randomise_bn(model)
    model.eval()
    channels, height, width = get_model_entry(name).input_size
    size = min(height, 64) if height > 64 else height
    x = torch.randn(1, channels, size, size)
    folded, report = fold_batchnorm(model)
    assert report.folded, f"{name}: nothing folded"
    assert not report.kept, f"{name}: left {report.kept}"
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-4)


def test_optimize_float32_channels_last_matches():
    torch.manual_seed(0)
    model = Branchy()
    _randomise_bn(model)
    model.eval()
    fast, report = optimize(model, dtype="float32", channels_last=True)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-5, atol=1e-5)
    assert report.fold.folded == [("conv_a", "bn_a")]


@pytest.mark.parametrize("dtype", ["bfloat16", "torch.bfloat16", torch.bfloat16])
def test_optimize_bfloat16_is_close_and_returns_float32(dtype):
    torch.manual_seed(0)
    model = Branchy()
    _randomise_bn(model)
    model.eval()
    fast, report = optimize(model, dtype=dtype)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        out = fast(x)
        ref = model(x)
    assert out.dtype == torch.float32
    assert fast.model.conv_a.weight.dtype == torch.bfloat16
    assert report.dtype == "bfloat16"
    torch.testing.assert_close(out, ref, rtol=0.05, atol=0.05)


@pytest.mark.parametrize(
    "dtype, message",
    [
        ("int3", "unknown dtype 'int3'"),
        (torch.int8, "unsupported dtype torch.int8"),
        (16, "unknown dtype 16"),
    ],
)
def test_optimize_rejects_unknown_dtype(dtype, message):
    with pytest.raises(OneByOneError, match=message):
        optimize(Branchy(), dtype=dtype)
