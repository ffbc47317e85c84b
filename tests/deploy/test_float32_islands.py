"""optimize() in bfloat16/float16 keeps ops torch cannot run in them on CPU (LRN's avg_pool3d) in float32."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onebyone.deploy.bench import bench
from onebyone.deploy.optimize import Float32Island, optimize


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.LocalResponseNorm(5), nn.Conv2d(8, 4, 1), nn.LocalResponseNorm(3)
    ).eval()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_lrn_runs_in_float32_inside_a_lower_precision_copy(dtype):
    model, x = _net(), torch.rand(2, 3, 12, 12)
    with pytest.raises(NotImplementedError, match="avg_pool3d"):  # what torch does without the island
        nn.LocalResponseNorm(5)(x.to(dtype))
    fast, done = optimize(model, dtype=dtype)
    assert done.float32_modules == {"2": "avg_pool3d", "4": "avg_pool3d"}
    assert "2 module(s) run in float32" in done.float32_note() and "avg_pool3d" in done.float32_note()
    islands = [m for m in fast.modules() if isinstance(m, Float32Island)]
    assert len(islands) == 2
    convs = [m for m in fast.modules() if isinstance(m, nn.Conv2d)]
    assert all(conv.weight.dtype == dtype for conv in convs)
    with torch.no_grad():
        expected, got = model(x), fast(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=0.05, rtol=0.05)


def test_a_float32_copy_wraps_nothing():
    _, done = optimize(_net(), dtype=torch.float32)
    assert done.float32_modules == {} and done.float32_note() is None


def test_bench_in_bfloat16_measures_a_net_with_lrn_and_says_what_stayed_float32():
    result = bench(_net(), (3, 12, 12), batch_sizes=(1,), repeats=1, dtype="bfloat16", pointwise=False)
    assert [row.variant for row in result.latency] == ["eager fp32 NCHW", "optimised"]
    assert len(result.warnings) == 1 and "(2, 4)" in result.warnings[0]
