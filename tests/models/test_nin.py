"""Claim C4 and the NIN family: the Caffe ImageNet table, the paper's CIFAR-10 net, options."""

import pytest
import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models import create_model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_macs_and_shapes(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, tuple[int, ...]]]:
    """MACs of every conv (from its output shape, via forward hooks) and each module's output shape."""
    macs = 0
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(name):
        def record(module, inputs, output):
            nonlocal macs
            shapes[name] = tuple(output.shape[1:])
            if isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                macs += output[0].numel() * (module.in_channels // module.groups) * kh * kw

        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules() if name]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return macs, shapes


# The Caffe NIN table (CLAIMS C4, SPEC 3.1): Caffe name, module path, channels, kernel, stride, pad,
# output side at 224 and at 227.
NIN_IMAGENET_TABLE = [
    ("conv1", "features.stage1.conv", 96, 11, 4, 0, 54, 55),
    ("cccp1", "features.stage1.pointwise1", 96, 1, 1, 0, 54, 55),
    ("cccp2", "features.stage1.pointwise2", 96, 1, 1, 0, 54, 55),
    ("pool1", "features.pool1", 96, 3, 2, 0, 27, 27),
    ("conv2", "features.stage2.conv", 256, 5, 1, 2, 27, 27),
    ("cccp3", "features.stage2.pointwise1", 256, 1, 1, 0, 27, 27),
    ("cccp4", "features.stage2.pointwise2", 256, 1, 1, 0, 27, 27),
    ("pool2", "features.pool2", 256, 3, 2, 0, 13, 13),
    ("conv3", "features.stage3.conv", 384, 3, 1, 1, 13, 13),
    ("cccp5", "features.stage3.pointwise1", 384, 1, 1, 0, 13, 13),
    ("cccp6", "features.stage3.pointwise2", 384, 1, 1, 0, 13, 13),
    ("pool3", "features.pool3", 384, 3, 2, 0, 6, 6),
    ("drop", "features.dropout3", 384, None, None, None, 6, 6),
    ("conv4-1024", "features.stage4.conv", 1024, 3, 1, 1, 6, 6),
    ("cccp7-1024", "features.stage4.pointwise1", 1024, 1, 1, 0, 6, 6),
    ("cccp8-1000", "features.stage4.pointwise2", 1000, 1, 1, 0, 6, 6),
    ("pool4", "head.pool", 1000, 6, 1, 0, 1, 1),
]


@pytest.fixture(scope="module")
def nin_imagenet_shapes():
    model = create_model("nin-imagenet").eval()
    return {size: conv_macs_and_shapes(model, torch.randn(1, 3, size, size)) for size in (224, 227)}


@pytest.mark.parametrize("row", NIN_IMAGENET_TABLE, ids=[row[0] for row in NIN_IMAGENET_TABLE])
def test_c4_nin_imagenet_layer_table(row, nin_imagenet_shapes):
    caffe_name, path, channels, kernel, stride, pad, side224, side227 = row
    model = create_model("nin-imagenet")
    module = model.get_submodule(path)
    layer = module.conv if hasattr(module, "conv") else module
    if kernel is not None:
        assert layer.kernel_size in (kernel, (kernel, kernel))
        assert layer.stride in (stride, (stride, stride))
        assert layer.padding in (pad, (pad, pad))
    if isinstance(module, nn.Sequential) and hasattr(module, "conv"):
        assert isinstance(module.act, nn.ReLU), f"{caffe_name} must be followed by ReLU"
    if isinstance(layer, nn.MaxPool2d):
        assert layer.ceil_mode, "Caffe pools round up"
    for size, side in ((224, side224), (227, side227)):
        _, shapes = nin_imagenet_shapes[size]
        assert shapes[path] == (channels, side, side), f"{caffe_name} at {size}"


def test_nin_imagenet_parameters_and_macs(nin_imagenet_shapes):
    model = create_model("nin-imagenet")
    assert n_params(model) == 7_595_176
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
    assert weights == 7_589_920
    macs, shapes = nin_imagenet_shapes[224]
    assert macs == 1_100_188_800
    assert shapes["head"] == (1000,)


@pytest.mark.parametrize("size", [192, 256])
def test_nin_imagenet_rejects_inputs_that_miss_the_6x6_head(size):
    with torch.device("meta"):
        model = create_model("nin-imagenet")
        with pytest.raises(OneByOneError, match="6×6 feature map"):
            model(torch.empty(1, 3, size, size))


def test_nin_cifar_parameters_macs_and_shape():
    model = create_model("nin-cifar").eval()
    assert n_params(model) == 966_986
    macs, shapes = conv_macs_and_shapes(model, torch.randn(1, 3, 32, 32))
    assert macs == 222_486_528
    # 32 → 16 → 8 with Caffe's ceil pooling; GAP over 8×8 gives the 10 logits.
    assert shapes["features.stage1.pointwise2"] == (96, 32, 32)
    assert shapes["features.pool1"] == (96, 16, 16)
    assert shapes["features.pool2"] == (192, 8, 8)
    assert shapes["features"] == (10, 8, 8)
    assert shapes["head"] == (10,)


def _conv(cin, cout, k, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


# Expected parameters of nin-cifar option sets, each summed by hand from the layer list.
NIN_CIFAR_VARIANTS = [
    (
        {},
        _conv(3, 192, 5)
        + _conv(192, 160, 1)
        + _conv(160, 96, 1)
        + _conv(96, 192, 5)
        + 2 * _conv(192, 192, 1)
        + _conv(192, 192, 3)
        + _conv(192, 192, 1)
        + _conv(192, 10, 1),
    ),
    # FC head: the last 1×1 keeps 192 channels, then Linear(192·8·8 → 10).
    ({"head": "fc"}, 966_986 - _conv(192, 10, 1) + _conv(192, 192, 1) + 192 * 8 * 8 * 10 + 10),
    (
        {"head": "fc", "image_size": 28},
        966_986 - _conv(192, 10, 1) + _conv(192, 192, 1) + 192 * 7 * 7 * 10 + 10,
    ),
    # No 1×1 layers: 5×5 3→192, 5×5 192→192, 3×3 192→10.
    ({"pointwise_layers": 0}, _conv(3, 192, 5) + _conv(192, 192, 5) + _conv(192, 10, 3)),
    # One 1×1 per stage: the stage's output width.
    (
        {"pointwise_layers": 1},
        _conv(3, 192, 5)
        + _conv(192, 96, 1)
        + _conv(96, 192, 5)
        + _conv(192, 192, 1)
        + _conv(192, 192, 3)
        + _conv(192, 10, 1),
    ),
    # Half width: hidden widths halve, classes do not.
    (
        {"width": 0.5},
        _conv(3, 96, 5)
        + _conv(96, 80, 1)
        + _conv(80, 48, 1)
        + _conv(48, 96, 5)
        + 2 * _conv(96, 96, 1)
        + _conv(96, 96, 3)
        + _conv(96, 96, 1)
        + _conv(96, 10, 1),
    ),
    ({"in_channels": 1, "num_classes": 100}, 966_986 - 2 * 25 * 192 - _conv(192, 10, 1) + _conv(192, 100, 1)),
    # Batch norm: no conv biases (−(192+160+96+192·3+192·2+10)), + 2 per channel.
    ({"batch_norm": True}, 966_986 + (192 + 160 + 96 + 192 * 3 + 192 * 2 + 10)),
]


@pytest.mark.parametrize("options, expected", NIN_CIFAR_VARIANTS, ids=[str(o) for o, _ in NIN_CIFAR_VARIANTS])
def test_nin_cifar_options(options, expected):
    size = options.get("image_size", 32)
    model = create_model("nin-cifar", **options)
    assert n_params(model) == expected
    out = model.eval()(torch.randn(2, options.get("in_channels", 3), size, size))
    assert out.shape == (2, options.get("num_classes", 10))


@pytest.mark.parametrize("second_pool, pool_type", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_nin_cifar_second_pool_kind(second_pool, pool_type):
    model = create_model("nin-cifar", second_pool=second_pool)
    assert isinstance(model.features.pool1, nn.MaxPool2d)
    assert isinstance(model.features.pool2, pool_type) and model.features.pool2.ceil_mode


@pytest.mark.parametrize("dropout, count", [(0.5, 2), (0.2, 2), (0.0, 0)])
def test_nin_cifar_dropout_option(dropout, count):
    model = create_model("nin-cifar", dropout=dropout)
    drops = [m for m in model.features.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == count and all(d.p == dropout for d in drops)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"head": "mlp"}, "head"),
        ({"width": 0}, "width"),
        ({"pointwise_layers": -1}, "pointwise_layers"),
        ({"second_pool": "median"}, "second_pool"),
        ({"dropout": 1.5}, "dropout"),
        ({"head": "fc", "image_size": 2}, "image_size"),
        ({"init": "xavier"}, "init must be one of torch, he"),
    ],
)
def test_nin_cifar_rejects_bad_options(options, message):
    with pytest.raises(OneByOneError, match=message):
        create_model("nin-cifar", **options)


def test_nin_fashion_is_small_and_fits_28x28():
    model = create_model("nin-fashion").eval()
    assert n_params(model) <= 300_000
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    _, shapes = conv_macs_and_shapes(model, torch.randn(1, 1, 28, 28))
    assert shapes["features.pool1"][1:] == (14, 14) and shapes["features.pool2"][1:] == (7, 7)
    assert shapes["head"] == (10,)


def test_he_init_scales_every_conv_by_its_fan_in_and_zeroes_biases():
    torch.manual_seed(0)
    model = create_model("nin-cifar", init="he")
    for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
        fan_in = conv.weight[0].numel()
        # He-normal: std sqrt(2 / fan_in); torch's default (kaiming-uniform, a=sqrt(5)): sqrt(1/(3·fan_in)).
        assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.1)
        assert torch.count_nonzero(conv.bias) == 0
    torch.manual_seed(0)
    default = create_model("nin-cifar")
    conv = next(m for m in default.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.std().item() == pytest.approx((1 / (3 * conv.weight[0].numel())) ** 0.5, rel=0.1)


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_pointwise_relu_off_keeps_every_parameter_and_one_relu_per_stage(width):
    with_relu = create_model("nin-fashion", width=width)
    linear = create_model("nin-fashion", width=width, pointwise_relu=False)
    no_pointwise = create_model("nin-fashion", width=width, pointwise_layers=0)
    assert n_params(linear) == n_params(with_relu)  # exact: 289,652 at width 1
    assert [tuple(p.shape) for p in linear.parameters()] == [tuple(p.shape) for p in with_relu.parameters()]
    relus = lambda m: sum(isinstance(x, nn.ReLU) for x in m.modules())  # noqa: E731
    assert (relus(with_relu), relus(linear), relus(no_pointwise)) == (9, 3, 3)


def test_without_pointwise_relu_a_stage_is_affine_up_to_its_last_relu():
    torch.manual_seed(0)
    stage = create_model("nin-fashion", width=0.25, pointwise_relu=False).features.stage2.eval()
    for bn in (m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)):  # non-trivial statistics
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    before_relu = nn.Sequential(stage.conv, stage.pointwise1, stage.pointwise2.conv, stage.pointwise2.bn)
    x, y = torch.randn(2, 2, 16, 14, 14)  # stage 1 gives 16 channels at width 0.25
    zero = before_relu(torch.zeros_like(x))
    torch.testing.assert_close(before_relu(x + y) - zero, (before_relu(x) - zero) + (before_relu(y) - zero))
    relu_at_the_end = stage(x) + stage(y) - stage(torch.zeros_like(x))
    assert not torch.allclose(stage(x + y), relu_at_the_end)
