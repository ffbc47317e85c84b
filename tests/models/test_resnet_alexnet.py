"""ResNet (torchvision's counts) and AlexNet; claim C7's parameter ratio."""

import pytest
import torch
from torch import nn

from onebyone.layers import BasicBlock, Bottleneck
from onebyone.models import create_model

# torchvision's parameter counts (SPEC §5).
TORCHVISION_PARAMETERS = [
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
    ("resnet50", 25_557_032),
    ("resnet101", 44_549_160),
    ("resnet152", 60_192_808),
    ("alexnet", 61_100_840),
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, expected", TORCHVISION_PARAMETERS)
def test_parameter_counts_equal_torchvision(name, expected):
    with torch.device("meta"):
        model = create_model(name)
    assert n_params(model) == expected


@pytest.mark.parametrize(
    "name, block, blocks",
    [
        ("resnet18", BasicBlock, (2, 2, 2, 2)),
        ("resnet34", BasicBlock, (3, 4, 6, 3)),
        ("resnet50", Bottleneck, (3, 4, 6, 3)),
        ("resnet101", Bottleneck, (3, 4, 23, 3)),
        ("resnet152", Bottleneck, (3, 8, 36, 3)),
    ],
)
def test_resnet_layout(name, block, blocks):
    with torch.device("meta"):
        model = create_model(name)
        features = model.forward_features(torch.empty(1, 3, 224, 224))
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    assert tuple(len(stage) for stage in stages) == blocks
    assert all(isinstance(b, block) for stage in stages for b in stage)
    assert tuple(features.shape) == (1, 512 * block.expansion, 7, 7)


def test_resnet_in_channels_and_classes():
    with torch.device("meta"):
        model = create_model("resnet50", in_channels=1, num_classes=10)
    assert n_params(model) == 25_557_032 - 2 * 7 * 7 * 64 - 2048 * 990 - 990


def test_c7_googlenet_vs_alexnet_ratio():
    with torch.device("meta"):
        alexnet, googlenet = create_model("alexnet"), create_model("googlenet")
    ratio = n_params(alexnet) / n_params(googlenet)
    # The claim says "about 1/12"; the Caffe GoogLeNet (6,998,552) gives 8.73×.
    assert ratio == pytest.approx(61_100_840 / 6_998_552)
    assert 8 < ratio < 9
