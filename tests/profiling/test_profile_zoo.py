"""The profiler on every zoo model: MACs equal torch.utils.flop_counter's halved, totals are sums
of rows at every grouping depth, SPEC figures, and speed on meta tensors."""

from __future__ import annotations

import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from onebyone.models.registry import create_model, get_model_entry, list_models
from onebyone.profiling import profile


def meta_model(name: str, **overrides):
    with torch.device("meta"):
        return create_model(name, **overrides)


@pytest.mark.parametrize("name", list_models())
def test_macs_equal_flop_counter_halved(name):
    model = meta_model(name).eval()
    shape = (1, *get_model_entry(name).input_size)
    result = profile(model, shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(shape, device="meta"))
    assert result.totals["macs"] * 2 == counter.get_total_flops()
    assert result.totals["params"] == sum(p.numel() for p in model.parameters())
    assert result.totals["uncounted"] == {}
    assert result.warnings == []  # no branch of any zoo model disagrees on stride or alignment
    for depth in (0, 1, 2, 5):
        groups = result.grouped(depth)
        for key in ("params", "macs", "other_flops", "activation_bytes", "pointwise_macs"):
            assert sum(getattr(g, key) for g in groups) == result.totals[key]


def test_resnet50_figures():
    result = profile(meta_model("resnet50"), (1, 3, 224, 224))
    assert result.totals["macs"] == 4_089_184_256  # SPEC: 4.089 GMACs
    assert result.totals["params"] == 25_557_032
    assert [a["size"] for a in result.row("layer4").receptive_field["axes"]] == [427, 427]


def test_nin_imagenet_spec_table():
    result = profile(meta_model("nin-imagenet"), (1, 3, 224, 224))
    assert result.totals["macs"] == 1_100_188_800
    assert result.totals["params"] == 7_595_176
    sizes = [
        result.row(p).receptive_field["axes"][0]["size"]
        for p in (
            "features.stage1",
            "features.pool1",
            "features.stage2",
            "features.pool2",
            "features.stage3",
            "features.pool3",
            "features.stage4",
            "head",
        )
    ]
    assert sizes == [11, 19, 51, 67, 99, 131, 195, 355]


def subtree(result, path):
    """Sum of a module's own row and all rows below it (grouping at its depth)."""
    depth = path.count(".") + 1
    return next(g for g in result.grouped(depth) if g.path == path)


def test_googlenet_inception3a_naive_vs_reduced():
    reduced = profile(meta_model("googlenet"), (1, 3, 224, 224))
    naive = profile(meta_model("googlenet", naive=True), (1, 3, 224, 224))
    block_r = subtree(reduced, "inceptions.inception3a")
    block_n = subtree(naive, "inceptions.inception3a")
    # SPEC: kernel weights 163,328 (with the pool projection) and 387,072, plus biases
    assert block_r.params == 163_328 + (64 + 96 + 128 + 16 + 32 + 32)
    assert block_n.params == 387_072 + (64 + 128 + 32)
    assert block_r.output_shape == [1, 256, 28, 28] and block_n.output_shape == [1, 416, 28, 28]
    assert block_r.macs == 163_328 * 28 * 28 and block_n.macs == 387_072 * 28 * 28
    assert block_r.pointwise_params == 192 * (64 + 96 + 16 + 32) + 64 + 96 + 16 + 32
    assert naive.totals["macs"] > reduced.totals["macs"]


def test_2048_input_on_meta_is_fast():
    model = meta_model("resnet50")
    profile(model, (1, 3, 64, 64))  # warm-up
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        result = profile(model, (1, 3, 2048, 2048))
        best = min(best, time.perf_counter() - start)
    assert result.totals["output_shape"] == [1, 1000]
    assert best < 1.0, f"{best:.3f} s"
