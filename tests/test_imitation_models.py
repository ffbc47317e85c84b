"""Models written the way torchvision and timm write theirs, through every step onebyone offers.

They imitate what those libraries do that onebyone's own zoo does not: a Linear subclass with its
own forward (timm's `Linear`), a BatchNorm2d that applies its activation (timm's `BatchNormAct2d`),
a Conv2d subclass that pads like TensorFlow's "SAME" (timm's `Conv2dSame`), ConvNeXt blocks that
apply Linear layers to channels-last maps and a LayerNorm2d head, activations called as functions
(F.relu, torch.relu, x.relu(), x.clamp(min=0)), ReLU6 and hard-swish. Every step is checked
against the original model's outputs.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close
from torch.utils.flop_counter import FlopCounterMode

from onebyone.data import FASHION_MNIST_DIR, load_fashion_mnist
from onebyone.deploy import export_onnx, fold_batchnorm, optimize
from onebyone.errors import OneByOneError
from onebyone.insight import (
    capture_activations,
    class_activation_maps,
    class_map_network,
    gap_class_map_network,
    measure_sparsity,
    relu_layers,
)
from onebyone.profiling import profile
from onebyone.surgery import convert_fc_layers, factorize, factorized_structure, rebuild_structure

SHAPE = (2, 1, 28, 28)


class OwnLinear(nn.Linear):
    """A Linear subclass with its own forward, as timm's `Linear` (which torch.fx traces through)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.linear(input, self.weight, self.bias)


class BatchNormAct2d(nn.BatchNorm2d):
    """Batch norm, then an activation, in one BatchNorm2d subclass (timm's norm+activation layers)."""

    def __init__(self, channels: int, act: type[nn.Module] | None = nn.ReLU) -> None:
        super().__init__(channels)
        self.act = act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.Hardswish) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )
        return self.act(x)


class SameConv2d(nn.Conv2d):
    """TensorFlow "SAME" padding worked out from the input size in forward (timm's Conv2dSame)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, padding=0, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return F.conv2d(
            F.pad(x, (left, right, top, bottom)),
            self.weight,
            self.bias,
            self.stride,
            0,
            self.dilation,
            self.groups,
        )


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) map (torchvision's and timm's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class MobileNetLike(nn.Module):
    """timm's MobileNetV3 pattern: SAME convs + BatchNormAct2d, ReLU6/hard-swish, a 1×1 conv head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = SameConv2d(1, 8, 3, stride=2, bias=False)
        self.stem_bn = BatchNormAct2d(8, nn.Hardswish)
        self.expand = nn.Conv2d(8, 16, 1, bias=False)
        self.expand_bn = BatchNormAct2d(16, nn.ReLU6)
        self.depthwise = SameConv2d(16, 16, 3, stride=2, groups=16, bias=False)
        self.depthwise_bn = BatchNormAct2d(16, nn.ReLU)
        self.mix = SameConv2d(16, 24, 3, bias=False)
        self.mix_bn = BatchNormAct2d(24, None)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_head = nn.Conv2d(24, 32, 1)
        self.act = nn.Hardswish()
        self.flatten = nn.Flatten()
        self.classifier = OwnLinear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_bn(self.stem(x))  # (N, 8, 14, 14)
        x = self.expand_bn(self.expand(x))
        x = self.depthwise_bn(self.depthwise(x))  # (N, 16, 7, 7)
        x = self.mix_bn(self.mix(x))
        x = self.act(self.conv_head(self.global_pool(x)))  # (N, 32, 1, 1)
        return self.classifier(self.flatten(x))


class ConvNeXtBlock(nn.Module):
    """Depthwise 7×7, then an MLP of Linear layers on the channels-last map, and a residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.fc1 = nn.Linear(channels, 4 * channels)
        self.fc2 = OwnLinear(4 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (N, H, W, C)
        y = self.fc2(F.gelu(self.fc1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtLike(nn.Module):
    """torchvision's ConvNeXt pattern: patchify stem, channels-last MLP blocks, LayerNorm2d head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 4, stride=4), LayerNorm2d(16))
        self.blocks = nn.Sequential(ConvNeXtBlock(16), ConvNeXtBlock(16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(LayerNorm2d(16), nn.Flatten(1), nn.Linear(16, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.avgpool(self.blocks(self.stem(x))))


class FunctionalNet(nn.Module):
    """Activations called as functions and methods, none of them a module; a GAP + linear head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.conv4 = nn.Conv2d(16, 16, 1)
        self.fc = OwnLinear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = self.conv3(x).relu()
        x = self.conv4(x).clamp(min=0)
        return self.fc(x.mean((2, 3)))


MODELS = {"mobilenet-like": MobileNetLike, "convnext-like": ConvNeXtLike, "functional": FunctionalNet}


def build(name: str) -> nn.Module:
    """A model with seeded weights whose batch norms hold the statistics of a real batch."""
    torch.manual_seed(0)
    model = MODELS[name]()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.momentum = 1.0  # the running statistics become those of the one batch below
        nn.init.uniform_(norm.weight, 0.5, 1.5)
        nn.init.normal_(norm.bias, std=0.5)
    with torch.no_grad():
        model.train()(random_input((16, 1, 28, 28)))
    return model.eval()


def random_input(shape=SHAPE) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("name", MODELS)
def test_profile_counts_exactly(name):
    model = build(name)
    result = profile(model, SHAPE)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(random_input())
    assert result.totals["macs"] * 2 == counter.get_total_flops()
    assert result.totals["params"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["mobilenet-like", "functional"])
def test_optimize_folds_every_batch_norm_after_a_conv(name):
    model = build(name)
    fast, report = optimize(model, channels_last=True)
    assert report.fold.kept == [] and report.fold.reasons == {}
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fast.modules())
    x = random_input()
    with torch.no_grad():
        assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)


def test_fold_replaces_a_norm_activation_module_by_its_activation():
    folded, report = fold_batchnorm(build("mobilenet-like"))
    assert report.folded == [
        ("stem", "stem_bn"),
        ("expand", "expand_bn"),
        ("depthwise", "depthwise_bn"),
        ("mix", "mix_bn"),
    ]
    assert [type(folded.get_submodule(n)) for n in ("stem_bn", "expand_bn", "depthwise_bn", "mix_bn")] == [
        nn.Hardswish,
        nn.ReLU6,
        nn.ReLU,
        nn.Identity,
    ]
    assert type(folded.stem) is SameConv2d  # the conv keeps its class and its padding


def test_fold_keeps_a_norm_subclass_that_adds_more_than_its_children():
    class NormPlusOne(nn.BatchNorm2d):
        def forward(self, x):
            return super().forward(x) + 1

    model = nn.Sequential(nn.Conv2d(1, 4, 3), NormPlusOne(4)).eval()
    folded, report = fold_batchnorm(model)
    assert report.folded == [] and report.kept == ["1"]
    assert report.reasons["1"] == "NormPlusOne does not compute batch norm followed by its child modules"
    x = random_input()
    assert_close(folded(x), model(x))


def test_fold_keeps_a_norm_whose_conv_uses_its_weights_otherwise():
    class StandardisedConv2d(nn.Conv2d):
        """Weight standardisation (timm's StdConv2d): scaling the weights changes nothing."""

        def forward(self, x):
            w = self.weight
            w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
            return F.conv2d(x, w, self.bias, self.stride, self.padding)

    model = nn.Sequential(StandardisedConv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model[1].running_var.fill_(0.25)
    model[1].weight.data.fill_(3.0)  # scales the conv's output by 6: standardisation would undo it
    model.eval()
    folded, report = fold_batchnorm(model)
    assert report.folded == [] and report.kept == ["1"]
    assert "does not compute a plain convolution" in report.reasons["1"]
    x = random_input()
    assert_close(folded(x), model(x))


@pytest.mark.parametrize("name", MODELS)
def test_factorize_at_full_rank_is_exact_and_rebuilds(name):
    model = build(name)
    _, probe = factorize(model, ranks={}, input_shape=SHAPE[1:])
    full = {}
    for row in probe.layers:
        if row.factorisable:
            layer = model.get_submodule(row.name)
            if row.kind == "conv":
                full[row.name] = (layer.in_channels, layer.out_channels)
            else:
                shape = (
                    (layer.in_features, layer.out_features)
                    if row.kind == "linear"
                    else (layer.in_channels, layer.out_channels)
                )
                full[row.name] = min(shape)
    factorised, report = factorize(model, ranks=full, input_shape=SHAPE[1:])
    assert {r.name for r in report.factorised} == set(full)
    x = random_input()
    with torch.no_grad():
        assert_close(factorised(x), model(x), rtol=1e-4, atol=1e-5)
        rebuilt = rebuild_structure(MODELS[name]().eval(), factorized_structure(factorised, report))
        rebuilt.load_state_dict(factorised.state_dict())
        assert_close(rebuilt(x), model(x), rtol=1e-4, atol=1e-5)


def test_factorize_recognises_subclasses_and_channels_last_linears():
    model = build("mobilenet-like")
    _, report = factorize(model, ranks={"stem": (1, 4), "mix": (8, 12)}, input_shape=SHAPE[1:])
    rows = {r.name: r for r in report.layers}
    assert rows["classifier"].factorisable and rows["classifier"].kind == "linear"
    # A stride-2 SAME pad on an even size is uneven, so it depends on the input size; stride 1 does not.
    assert rows["stem"].note == '"SAME" padding as at 28×28 inputs (it depends on the size)'
    assert rows["mix"].note is None
    assert "groups=16" in rows["depthwise"].reason
    _, report = factorize(build("convnext-like"), ranks={"blocks.0.fc1": 4}, input_shape=SHAPE[1:])
    fc1 = next(r for r in report.layers if r.name == "blocks.0.fc1")
    assert fc1.macs_before == 7 * 7 * 16 * 64  # one row per position of the 7×7 channels-last map
    assert fc1.macs_after == 7 * 7 * (16 * 4 + 4 * 64)


def test_factorize_refuses_a_subclass_that_computes_something_else():
    class Doubled(nn.Linear):
        def forward(self, x):
            return 2 * F.linear(x, self.weight, self.bias)

    model = nn.Sequential(nn.Flatten(), Doubled(784, 10)).eval()
    with pytest.raises(OneByOneError, match="no factorisable layer '1'"):
        factorize(model, ranks={"1": 2}, input_shape=SHAPE[1:])
    _, report = factorize(model, ranks={}, input_shape=SHAPE[1:])
    assert "does not compute F.linear" in report.layers[0].reason


def test_fc_to_conv_converts_a_linear_subclass_and_slides_through_the_conv_head():
    model = build("mobilenet-like")
    result = convert_fc_layers(model, SHAPE)
    assert [(c.layer, c.after) for c in result.layers] == [("classifier", "Conv2d(32 → 10, 1×1)")]
    assert result.pools == ["global_pool (AdaptiveAvgPool2d): global avg pool → 7×7 window, stride 1"]
    x = random_input()
    with torch.no_grad():
        assert_close(result.model(x), model(x), rtol=1e-5, atol=1e-6)
        assert result.model(random_input((1, 1, 56, 56))).shape == (1, 10, 8, 8)


def test_fc_to_conv_keeps_channels_last_linears_and_converts_the_head():
    model = build("convnext-like")
    result = convert_fc_layers(model, SHAPE)
    assert [c.layer for c in result.layers] == ["head.2"]
    assert [p.split(" ")[0] for p in result.position_wise] == [
        "blocks.0.fc1",
        "blocks.0.fc2",
        "blocks.1.fc1",
        "blocks.1.fc2",
    ]
    assert "on 7×7×16 channels-last maps" in result.position_wise[0]
    assert result.to_dict()["position_wise"] == result.position_wise
    x = random_input()
    with torch.no_grad():
        assert_close(result.model(x), model(x), rtol=1e-5, atol=1e-5)
        # The pooled map is normalised per position: a 2×2 input of windows gives a 2×2 class map.
        assert result.model(random_input((1, 1, 32, 32))).shape == (1, 10, 2, 2)


def test_fc_to_conv_refuses_a_network_whose_linears_are_all_position_wise():
    block = ConvNeXtBlock(4).eval()
    with pytest.raises(OneByOneError, match="its 2 linear layers act on each position of a map"):
        convert_fc_layers(nn.Sequential(nn.Conv2d(1, 4, 1), block), SHAPE)


@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_matches(tmp_path, name):
    result = export_onnx(build(name), tmp_path / f"{name}.onnx", SHAPE)
    assert result.output_shape == (2, 10)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4


def test_cam_of_a_gap_head_with_a_linear_subclass_averages_to_the_logits():
    model = build("functional")
    x = random_input()
    maps = class_activation_maps(model, x)
    assert maps.shape == (2, 10, 14, 14)
    with torch.no_grad():
        assert_close(maps.mean((2, 3)), model(x), rtol=1e-5, atol=1e-5)


def test_cam_of_a_conv_classifier_after_the_pool_averages_to_the_logits():
    # timm's heads with use_conv (DLA, BiT ResNetV2): global pool → 1×1 conv → flatten.
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 10, 1), nn.Flatten()
    ).eval()
    x = random_input()
    maps = class_activation_maps(model, x)
    assert maps.shape == (2, 10, 28, 28)
    with torch.no_grad():
        assert_close(maps.mean((2, 3)), model(x), rtol=1e-5, atol=1e-6)


def test_cam_refuses_a_nonlinear_head_and_the_class_map_comes_from_fc_to_conv():
    model = build("mobilenet-like")
    with pytest.raises(OneByOneError, match=r"act \(Hardswish\) is not linear"):
        gap_class_map_network(model, SHAPE)
    network, method = class_map_network(model, SHAPE)
    assert method == "fc_to_conv"
    with torch.no_grad():
        assert_close(network(random_input()), model(random_input()), rtol=1e-5, atol=1e-6)


def test_every_zero_producing_activation_is_found():
    assert relu_layers(build("mobilenet-like")) == ["stem_bn.act", "expand_bn.act", "depthwise_bn.act", "act"]
    assert relu_layers(build("functional")) == []
    x = random_input()
    # With an input, functional calls too: one name per call site, in call order.
    assert relu_layers(build("functional"), x) == ["relu()", "clamp()"]


needs_data = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)


@pytest.fixture(scope="module")
def images():
    """200 Fashion-MNIST test images, scaled to [0, 1] and standardised as training does."""
    test = load_fashion_mnist(split="test")
    return (test.images[:200].float() / 255 - 0.2860) / 0.3530


@needs_data
def test_sparsity_counts_functional_activations_by_kind(images):
    model = build("functional")
    result = measure_sparsity(model, images, batch_size=64)
    assert [(r.layer, r.kind) for r in result.rows] == [
        ("relu()", "relu"),
        ("relu()[1]", "relu"),
        ("relu()[2]", "relu"),
        ("clamp()", "clamp"),
    ]
    with torch.no_grad():  # the same activations computed by hand
        h1 = F.relu(model.bn1(model.conv1(images)))
        h2 = torch.relu(model.conv2(h1))
        h3 = model.conv3(h2).relu()
        h4 = model.conv4(h3).clamp(min=0)
    for row, h in zip(result.rows, (h1, h2, h3, h4), strict=True):
        assert row.zero_fraction == float((h == 0).double().mean())
        assert row.shape == list(h.shape[1:]) and row.numel == h.numel()
        assert row.mean_activation == pytest.approx(float(h.double().mean()), rel=1e-9)
    captured = capture_activations(model, images[:4])
    assert list(captured) == [r.layer for r in result.rows]
    assert_close(captured["clamp()"], h4[:4])


@needs_data
def test_sparsity_counts_activation_modules_inside_norm_activation_layers(images):
    model = build("mobilenet-like")
    result = measure_sparsity(model, images, batch_size=64)
    assert [(r.layer, r.kind) for r in result.rows] == [
        ("stem_bn.act", "hardswish"),
        ("expand_bn.act", "relu6"),
        ("depthwise_bn.act", "relu"),
        ("act", "hardswish"),
    ]
    assert all(0 < r.zero_fraction < 1 for r in result.rows[:3])
    assert result.to_dict()["rows"][1]["kind"] == "relu6"


def test_capture_names_a_functional_call_that_never_runs():
    with pytest.raises(OneByOneError, match=r"'conv1.relu\(\)' is not called .* seen: clamp\(\), relu\(\)"):
        capture_activations(build("functional"), random_input(), ["conv1.relu()"])
    with pytest.raises(OneByOneError, match="has no activation that can output zeros"):
        measure_sparsity(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh()), random_input())
