"""Factorisation: exactness at full rank, budgets met, rank ≥ 1, skips, standard layers only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.surgery import factorize, factorized_structure, rebuild_structure
from onebyone.surgery.decompose import factorize_conv_tucker2, tucker2

# (C_in, C_out, kernel, stride, padding, dilation, bias, padding_mode)
CONV_CASES = [
    (4, 6, 3, 1, 1, 1, True, "zeros"),
    (4, 6, 3, 1, 1, 1, False, "zeros"),
    (5, 3, 3, 2, 0, 1, True, "zeros"),
    (3, 8, (3, 5), (2, 1), (1, 2), (1, 2), True, "zeros"),
    (6, 4, (1, 3), 1, (0, 1), 1, False, "zeros"),
    (4, 4, 3, 1, 2, 2, True, "reflect"),
    (8, 8, 5, 3, 2, 1, False, "circular"),
    (4, 6, 3, 1, "same", 1, True, "zeros"),
]


def _conv_model(c_in, c_out, kernel, stride, padding, dilation, bias, padding_mode) -> nn.Module:
    torch.manual_seed(0)
    conv = nn.Conv2d(
        c_in,
        c_out,
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        bias=bias,
        padding_mode=padding_mode,
    )
    return nn.Sequential(conv)


@pytest.mark.parametrize("case", CONV_CASES)
def test_three_layer_tucker2_at_full_rank_equals_the_conv(case):
    conv = _conv_model(*case)[0]
    c_in, c_out = case[:2]
    layers, error = factorize_conv_tucker2(conv, c_in, c_out, fold=False)
    x = torch.randn(2, c_in, 11, 13)
    torch.testing.assert_close(layers(x), conv(x))
    assert error < 1e-5
    reduce, middle, expand = layers
    assert reduce.kernel_size == expand.kernel_size == (1, 1)
    assert (middle.kernel_size, middle.stride, middle.padding, middle.dilation, middle.padding_mode) == (
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.padding_mode,
    )
    assert reduce.bias is None and middle.bias is None and (expand.bias is not None) == case[6]


@pytest.mark.parametrize("case", CONV_CASES)
def test_factorize_at_full_rank_equals_the_model(case):
    model = _conv_model(*case)
    c_in, c_out = case[:2]
    new, report = factorize(model, ranks={"0": (c_in, c_out)}, input_shape=(c_in, 11, 13))
    x = torch.randn(2, c_in, 11, 13)
    torch.testing.assert_close(new(x), model(x))
    (row,) = report.layers
    assert row.method == "tucker2" and row.ranks == (c_in, c_out) and row.error < 1e-5


@pytest.mark.parametrize("case", CONV_CASES)
def test_tucker2_exact_on_a_low_rank_weight(case):
    # A weight that is exactly Tucker-2 at ranks (2, 3) is reproduced by three layers at those ranks.
    model = _conv_model(*case)
    conv = model[0]
    c_in, c_out = case[:2]
    kh, kw = conv.kernel_size
    with torch.no_grad():
        conv.weight.copy_(
            torch.einsum(
                "rshw,or,is->oihw", torch.randn(3, 2, kh, kw), torch.randn(c_out, 3), torch.randn(c_in, 2)
            )
        )
    new, report = factorize(model, ranks={"0": (2, 3)}, input_shape=(c_in, 11, 13))
    x = torch.randn(2, c_in, 11, 13)
    torch.testing.assert_close(new(x), model(x), rtol=1e-4, atol=1e-4)
    folded = c_out == 3  # a full output rank folds the last 1×1 into the core
    assert [layer.out_channels for layer in new[0]] == ([2, 3] if folded else [2, 3, c_out])
    assert report.layers[0].error < 1e-5
    assert report.layers[0].params_after == sum(p.numel() for p in new[0].parameters())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1)])
def test_pointwise_svd_at_full_rank_equals_the_conv(bias, stride, padding):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(6, 9, 1, stride=stride, padding=padding, bias=bias))
    new, report = factorize(model, ranks={"0": 6}, input_shape=(6, 7, 7))
    x = torch.randn(3, 6, 7, 7)
    torch.testing.assert_close(new(x), model(x))
    assert [type(m) for m in new[0]] == [nn.Conv2d, nn.Conv2d]


@pytest.mark.parametrize("bias", [True, False])
def test_linear_svd_at_full_rank_equals_the_linear(bias):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 7, bias=bias))
    new, _ = factorize(model, ranks={"0": 7}, input_shape=(1, 4, 12))  # applied to 4 rows per sample
    x = torch.randn(2, 1, 4, 12)
    torch.testing.assert_close(new(x), model(x))
    assert new[0][0].bias is None and (new[0][1].bias is not None) == bias


def test_hooi_never_worse_than_hosvd():
    torch.manual_seed(0)
    weight = torch.randn(16, 12, 3, 3)
    errors = []
    for iters in (0, 5):
        u_in, core, u_out = tucker2(weight, 4, 5, hooi_iters=iters)
        approx = torch.einsum("rshw,or,is->oihw", core, u_out, u_in)
        errors.append(float((approx - weight.double()).norm()))
    assert errors[1] <= errors[0] + 1e-9
    conv = nn.Conv2d(12, 16, 3)
    _, error = factorize_conv_tucker2(conv, 4, 5)
    assert 0 < error < 1


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 48, 3, stride=2, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(48, 48, 3, padding=1, groups=4),
        nn.ReLU(),
        nn.Conv2d(48, 64, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 40),
        nn.ReLU(),
        nn.Linear(40, 10),
    )


def _exact_cost(model: nn.Module, input_shape, what: str) -> int:
    """MACs or weight+bias parameters of every Conv2d/Linear, from the shapes seen in a forward pass."""
    total = 0

    def hook(module, args, output):
        nonlocal total
        if what == "params":
            total += sum(p.numel() for p in module.parameters(recurse=False))
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output[0].numel() * module.in_channels // module.groups * kh * kw
        else:
            total += output[0].numel() * module.in_features

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    return total


@pytest.mark.parametrize("target", ["macs", "params"])
@pytest.mark.parametrize("budget", [0.8, 0.5, 0.25])
def test_budget_is_met(target, budget):
    model = _net()
    shape = (3, 16, 16)
    new, report = factorize(model, budget, target=target, input_shape=shape)
    # The budget is a fraction of the factorisable layers' cost; the grouped conv is not one.
    grouped_cost = _exact_cost(nn.Sequential(model[4]), (48, 8, 8), target)
    before = _exact_cost(model, shape, target)
    after = _exact_cost(new, shape, target)
    assert after - grouped_cost <= budget * (before - grouped_cost)
    assert after - grouped_cost > 0.5 * budget * (before - grouped_cost)  # not far below: ranks used
    assert report.total(f"{target}_before") == before - grouped_cost
    assert report.total(f"{target}_after") == after - grouped_cost


def test_grouped_conv_skipped_with_reason():
    _, report = factorize(_net(), 0.5, input_shape=(3, 16, 16))
    row = next(r for r in report.layers if r.name == "4")
    assert row.method is None and "groups=4" in row.reason


def test_tiny_budget_gives_rank_one_never_zero():
    model = _net()
    shape = (3, 16, 16)
    with pytest.raises(OneByOneError, match="smallest reachable"):
        factorize(model, 1e-4, input_shape=shape, rank_multiple=1)
    # Find the smallest reachable fraction from the error and ask for exactly that.
    try:
        factorize(model, 1e-4, input_shape=shape, rank_multiple=1)
    except OneByOneError as exc:
        smallest = float(str(exc).split("reachable MACs is ")[1].split()[0])
    new, report = factorize(model, smallest + 1e-4, input_shape=shape, rank_multiple=1)
    ranks = [r for row in report.factorised for r in row.ranks]
    assert ranks and min(ranks) == 1
    for module in new.modules():
        if isinstance(module, nn.Conv2d):
            assert module.in_channels >= 1 and module.out_channels >= 1
    assert new(torch.randn(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("multiple", [4, 8])
def test_ranks_are_whole_blocks(multiple):
    _, report = factorize(_net(), 0.3, input_shape=(3, 16, 16), rank_multiple=multiple)
    assert report.factorised
    channels = {"0": (3, 32), "2": (32, 48), "6": (48, 64), "10": (64, 40), "12": (40, 10)}
    for row in report.factorised:
        c_in, c_out = channels[row.name]
        limits = (c_in, c_out) if row.method == "tucker2" else (min(c_in, c_out),)
        for rank, limit in zip(row.ranks, limits, strict=True):
            assert rank >= 1 and (rank % multiple == 0 or rank == limit or limit <= multiple)


def test_only_standard_layers_and_original_untouched():
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new, report = factorize(model, 0.4, input_shape=(3, 16, 16))
    assert report.factorised
    allowed = (nn.Sequential, nn.Conv2d, nn.Linear, nn.ReLU, nn.AdaptiveAvgPool2d, nn.Flatten)
    for module in new.modules():
        assert type(module) in allowed and type(module).__module__.startswith("torch.nn")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_structure_rebuilds_without_pickles():
    model = _net()
    new, report = factorize(model, 0.5, input_shape=(3, 16, 16))
    rebuilt = rebuild_structure(_net(), factorized_structure(new, report))
    rebuilt.load_state_dict(new.state_dict())
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(rebuilt(x), new(x))


@pytest.mark.parametrize("channels_last", [False, True])
def test_latency_target_measures_and_keeps_budget(channels_last):
    # One wide 3×3 conv: at small ranks it is many times faster, so 0.9 is reachable despite noise.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 8, 1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a shared machine stall at every barrier: noisier
    try:
        new, report = factorize(
            model,
            0.9,
            target="latency",
            input_shape=(64, 24, 24),
            latency_batch=4,
            latency_points=3,
            channels_last=channels_last,
        )
    finally:
        torch.set_num_threads(threads)
    assert report.latency_batch == 4
    assert all(r.ms_before is not None and r.ms_after is not None for r in report.layers)
    assert report.fraction("ms") <= 0.9
    assert report.factorised
    assert new(torch.randn(1, 64, 24, 24)).shape == (1, 8, 24, 24)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"budget": 0.0}, "budget must be in"),
        ({"budget": 1.5}, "budget must be in"),
        ({"budget": 0.5, "target": "flops"}, "unknown target"),
        ({"budget": None}, "either a budget or explicit ranks"),
        ({"budget": None, "ranks": {"0": (0, 4)}}, "out of range"),
        ({"budget": None, "ranks": {"nope": 3}}, "no factorisable layer"),
        ({"budget": 0.5, "rank_multiple": 0}, "rank_multiple"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(OneByOneError, match=match):
        factorize(_net(), input_shape=(3, 16, 16), **kwargs)


def test_budget_below_one_with_nothing_to_shrink_raises():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Conv2d(2, 1, 1))  # rank 1 already: nothing saves
    with pytest.raises(OneByOneError, match="cannot be met"):
        factorize(model, 0.5, input_shape=(1, 4, 4))
    _, report = factorize(model, 1.0, input_shape=(1, 4, 4))
    assert not report.factorised and all("saves no" in row.reason for row in report.layers)


def test_onnx_export_of_factorised_model(tmp_path):
    pytest.importorskip("onnx")
    from onebyone.deploy.export import export_onnx

    new, _ = factorize(_net(), 0.5, input_shape=(3, 16, 16))
    result = export_onnx(new, tmp_path / "f.onnx", (1, 3, 16, 16))
    assert result.output_shape == (1, 10)
    if result.max_abs_diff is not None:
        assert result.max_abs_diff < 1e-4
