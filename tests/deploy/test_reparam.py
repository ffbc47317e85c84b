"""Structural re-parameterisation on blocks written here: exact outputs, convs left, and the reasons."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from onebyone.deploy import kernels
from onebyone.deploy.reparam import count_layers, reparameterize


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, as training would leave them; eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.3)
    return model.eval()


def conv_bn(c_in, c_out, kernel, stride=1, padding=0, groups=1):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False), nn.BatchNorm2d(c_out)
    )


class RepVGGBlock(nn.Module):
    def __init__(self, channels=8, stride=1, groups=1):
        super().__init__()
        self.conv3x3 = conv_bn(channels, channels, 3, stride, 1, groups)
        self.conv1x1 = conv_bn(channels, channels, 1, stride, 0, groups)
        self.identity = nn.BatchNorm2d(channels) if stride == 1 else None

    def forward(self, x):
        out = self.conv3x3(x) + self.conv1x1(x)
        if self.identity is not None:
            out = out + self.identity(x)
        return F.relu(out)


class ACBlock(nn.Module):
    """ACNet: a square kernel plus horizontal and vertical ones."""

    def __init__(self, channels=8, stride=1):
        super().__init__()
        self.square = conv_bn(channels, channels, 3, stride, 1)
        self.horizontal = conv_bn(channels, channels, (1, 3), stride, (0, 1))
        self.vertical = conv_bn(channels, channels, (3, 1), stride, (1, 0))

    def forward(self, x):
        return torch.relu(self.square(x) + self.horizontal(x) + self.vertical(x))


class DBBBlock(nn.Module):
    """Diverse branch block: k×k, 1×1, 1×1→k×k, 1×1→average pool, identity; BN after each."""

    def __init__(self, channels=8, stride=1):
        super().__init__()
        self.kxk = conv_bn(channels, channels, 3, stride, 1)
        self.one = conv_bn(channels, channels, 1, stride)
        self.one_kxk = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 1, bias=False),
            nn.Conv2d(2 * channels, channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.one_avg = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.AvgPool2d(3, stride, 1), nn.BatchNorm2d(channels)
        )
        self.identity = nn.BatchNorm2d(channels) if stride == 1 else None

    def forward(self, x):
        out = self.kxk(x) + self.one(x) + self.one_kxk(x) + self.one_avg(x)
        return F.relu(out if self.identity is None else out + self.identity(x))


class MobileOneDepthwise(nn.Module):
    """MobileOne's over-parameterised depthwise stage: k 3×3 branches, a 1×1 scale branch, identity BN."""

    def __init__(self, channels=8, branches=3):
        super().__init__()
        self.kxk = nn.ModuleList(conv_bn(channels, channels, 3, 1, 1, channels) for _ in range(branches))
        self.scale = conv_bn(channels, channels, 1, 1, 0, channels)
        self.identity = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = self.scale(x) + self.identity(x)
        for branch in self.kxk:
            out += branch(x)
        return F.relu(out)


class LinearBottleneck(nn.Module):
    """1×1 expand, 3×3, 1×1 project, BN, with no activation between: one 3×3 conv."""

    def __init__(self, channels=8, wide=32):
        super().__init__()
        self.expand = nn.Conv2d(channels, wide, 1)
        self.spatial = nn.Conv2d(wide, wide, 3, padding=0)
        self.project = nn.Conv2d(wide, channels, 1)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(self.norm(self.project(self.spatial(self.expand(x)))))


def check(model, x, convs, norms=0):
    model = randomise(model)
    deployed, report = reparameterize(model)
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), model(x), rtol=1e-5, atol=1e-5)
    assert count_layers(deployed) == (convs, norms), report
    assert isinstance(deployed, type(model)) and type(deployed).__name__ == type(model).__name__
    return deployed, report


X = torch.randn(2, 8, 13, 11, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("stride", [1, 2])
def test_repvgg_block_is_one_conv(stride):
    deployed, report = check(RepVGGBlock(stride=stride), X, convs=1)
    assert deployed.reparam_conv.kernel_size == (3, 3) and deployed.reparam_conv.stride == (stride, stride)
    last = report.merges[-1]
    assert last.kind == "parallel" and last.into == "reparam_conv"
    assert last.replaced[-1] == "identity" if stride == 1 else len(last.replaced) == 2


def test_grouped_repvgg_block_keeps_its_groups():
    deployed, _ = check(RepVGGBlock(groups=4), X, convs=1)
    assert deployed.reparam_conv.groups == 4


@pytest.mark.parametrize("stride", [1, 2])
def test_acnet_block_is_one_square_conv(stride):
    deployed, _ = check(ACBlock(stride=stride), X, convs=1)
    assert deployed.reparam_conv.kernel_size == (3, 3) and deployed.reparam_conv.padding == (1, 1)


@pytest.mark.parametrize("stride", [1, 2])
def test_dbb_block_is_one_conv(stride):
    check(DBBBlock(stride=stride), X, convs=1)


def test_mobileone_depthwise_branches_are_one_depthwise_conv():
    deployed, _ = check(MobileOneDepthwise(), X, convs=1)
    assert deployed.reparam_conv.groups == 8 and deployed.reparam_conv.kernel_size == (3, 3)


def test_wide_linear_bottleneck_is_one_conv():
    deployed, report = check(LinearBottleneck(), X, convs=1)
    assert [m.kind for m in report.merges] == ["sequential"]
    assert report.merges[0].replaced == ["expand", "spatial", "project", "norm"]


def test_linear_bottleneck_with_a_padded_3x3_is_one_conv_when_nothing_biased_comes_before_it():
    model = nn.Sequential(
        nn.Conv2d(8, 32, 1, bias=False),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.Conv2d(32, 8, 1),
        nn.BatchNorm2d(8),
    )
    deployed, _ = check(model, X, convs=1)
    assert deployed.reparam_conv.padding == (1, 1)


def test_batch_norm_between_a_1x1_and_a_padded_3x3_is_refused_with_the_reason():
    """DBB's 1×1→BN→k×k branch: zero padding meets the BN's shift (DBB pads with it instead)."""
    model = nn.Sequential(conv_bn(8, 16, 1, 1), nn.Conv2d(16, 8, 3, padding=1, bias=False), nn.ReLU())
    _, report = check(model, X, convs=2)
    assert [r.reason for r in report.left] == ["a bias before the zero-padded 3×3 conv meets its padding"]


def test_low_rank_bottleneck_stays_two_convs_with_the_reason():
    model = nn.Sequential(nn.Conv2d(8, 2, 3, padding=1, bias=False), nn.Conv2d(2, 8, 1), nn.ReLU())
    _, report = check(model, X, convs=2)
    assert any("MACs a position against" in r.reason for r in report.left)


def test_network_of_blocks_merges_in_each_block_and_keeps_the_rest():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = RepVGGBlock()
            self.down = ACBlock(stride=2)
            self.body = nn.Sequential(DBBBlock(), MobileOneDepthwise())
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.head(self.body(self.down(self.stem(x)))).mean((2, 3))

        def features(self, x):  # a method of the model's own: it still works
            return self.body(self.down(self.stem(x)))

    deployed, _ = check(Net(), X, convs=5)
    assert type(deployed) is Net  # merges are inside the blocks: the model's own class is untouched
    assert deployed.features(X).shape == (2, 8, 7, 6)


class ConvNormReLU(nn.Module):
    def __init__(self, channels=8):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x)))


class RepDepthwise(nn.Module):
    """RepViT's token mixer: BN over a 3×3 and a 1×1 depthwise conv and the identity, summed."""

    def __init__(self, channels=8):
        super().__init__()
        self.conv = conv_bn(channels, channels, 3, 1, 1, channels)
        self.conv1 = nn.Conv2d(channels, channels, 1, groups=channels)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.conv(x) + self.conv1(x) + x)


@pytest.mark.parametrize("block", [ConvNormReLU, RepDepthwise])
def test_a_chain_running_into_a_block_is_merged_inside_the_block(block):
    """A conv before the block (3×3 then 3×3: no merge) must not pull the block's merge up into the
    model's forward, where the model's own methods would call a block whose layers are gone."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(8, 8, 3, padding=1)
            self.block = block()

        def forward(self, x):
            return self.block(self.stem(x))

        def features(self, x):
            return self.block(self.stem(x))

    deployed, report = check(Net(), X, convs=2)
    assert type(deployed) is Net and all(m.into.startswith("block.") for m in report.merges)
    with torch.no_grad():
        torch.testing.assert_close(deployed.features(X), deployed(X), rtol=0, atol=0)


def test_activation_between_is_not_merged():
    model = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    _, report = check(model, X, convs=2)
    assert not report.merges


def test_bias_before_a_padded_conv_is_refused_with_the_reason():
    model = nn.Sequential(nn.Conv2d(8, 16, 1), nn.Conv2d(16, 8, 3, padding=1), nn.ReLU())
    _, report = check(model, X, convs=2)
    assert [r.reason for r in report.left] == ["a bias before the zero-padded 3×3 conv meets its padding"]
    assert report.left[0].nodes == ["0", "1"]


def test_bias_before_an_unpadded_conv_merges():
    model = nn.Sequential(nn.Conv2d(8, 16, 1), nn.Conv2d(16, 8, 3), nn.ReLU())
    check(model, X, convs=1)


def test_branch_read_twice_is_not_merged():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(8, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 1)

        def forward(self, x):
            y = self.a(x)
            return torch.cat([y + self.b(x), y], 1)  # y is needed as it is, too

    check(Twice(), X, convs=2)


def test_module_called_twice_is_not_merged():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(8, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 1)

        def forward(self, x):
            return self.a(x) + self.b(x) + self.b(torch.relu(x))

    check(Shared(), X, convs=2)


def test_layer_scale_and_subtraction_merge():
    class RepMixer(nn.Module):  # x + γ·(mixer(x) − norm(x)), as FastViT's token mixer
        def __init__(self):
            super().__init__()
            self.mixer = conv_bn(8, 8, 3, 1, 1, groups=8)
            self.norm = nn.BatchNorm2d(8)
            self.gamma = nn.Parameter(torch.rand(8, 1, 1))

        def forward(self, x):
            return x + self.gamma * (self.mixer(x) - self.norm(x))

    deployed, _ = check(RepMixer(), X, convs=1)
    assert deployed.reparam_conv.groups == 8


def test_average_pool_without_counted_padding_is_not_a_conv():
    class Pool(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

        def forward(self, x):
            return self.conv(x) + self.pool(x)

    check(Pool(), X, convs=1)  # the pool stays a pool: its border divisor is not k²


def test_untraceable_model_is_returned_unchanged_with_the_reason():
    class Untraceable(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 1)

        def forward(self, x):
            return self.a(x) + self.b(x) if x.sum() > 0 else x

    _, report = check(Untraceable(), X.abs(), convs=2)
    assert report.method.startswith("not traced by torch.fx")


def test_original_model_is_unchanged():
    model = randomise(RepVGGBlock())
    reparameterize(model)
    assert type(model) is RepVGGBlock and count_layers(model) == (2, 3)


def ones(size, stride=1, padding=0):
    """A 4→4 kernel of ones, as kernels.from_conv gives it (float64)."""
    weight = torch.ones(4, 4, size, size, dtype=torch.float64)
    return kernels.Kernel(weight, torch.zeros(4, dtype=torch.float64), (stride,) * 2, (padding,) * 2, 1)


@pytest.mark.parametrize(
    "first, second, reason",
    [
        (ones(3, padding=1), ones(3, padding=1), "3×3 then 3×3: both kernels are larger than 1×1"),
        (ones(1, stride=2), ones(3, padding=1), "a strided 1×1 before a larger kernel samples its input"),
        (ones(3), kernels.identity(8), "4 channels feed a conv of 8"),
    ],
)
def test_compose_refusals(first, second, reason):
    assert kernels.compose(first, second).startswith(reason)


def test_parallel_sum_refuses_off_centre_padding():
    assert "is not centred" in kernels.parallel_sum([ones(3, padding=1), ones(1, padding=1)])


def test_regroup_keeps_the_map():
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=4)
    x = torch.randn(1, 8, 5, 5)
    wide = kernels.to_conv(kernels.regroup(kernels.from_conv(conv), 2), conv.weight)
    torch.testing.assert_close(wide(x), conv(x), rtol=1e-5, atol=1e-6)
    assert wide.groups == 2


@pytest.mark.parametrize("name", ["googlenet", "resnet50", "efficientnet-lite0", "nin-fashion"])
def test_zoo_models_stay_exact(name):
    """No parallel linear branches in the zoo: nothing merges wrongly, costlier merges are refused."""
    from onebyone.models import create_model, get_model_entry

    torch.manual_seed(0)
    model = randomise(create_model(name))
    channels, height, width = get_model_entry(name).input_size
    x = torch.randn(1, channels, min(height, 64), min(width, 64))
    deployed, report = reparameterize(model)
    assert report.method == "fx"
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), model(x), rtol=1e-4, atol=1e-4)
    assert count_layers(deployed)[0] == count_layers(model)[0]
