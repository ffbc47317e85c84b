"""GoogLeNet: BVLC Caffe layout, BN variant, naive Inception modules, auxiliary heads."""

import pytest
import torch
from torch import nn

from onebyone.models import create_model

# Table 1 of Szegedy et al. (2015), typed in independently of the model code:
# (1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool proj); "pool" marks a stride-2 max pool.
PAPER_TABLE = [
    (64, 96, 128, 16, 32, 32),  # 3a
    (128, 128, 192, 32, 96, 64),  # 3b
    "pool",
    (192, 96, 208, 16, 48, 64),  # 4a
    (160, 112, 224, 24, 64, 64),  # 4b
    (128, 128, 256, 24, 64, 64),  # 4c
    (112, 144, 288, 32, 64, 64),  # 4d
    (256, 160, 320, 32, 128, 128),  # 4e
    "pool",
    (256, 160, 320, 32, 128, 128),  # 5a
    (384, 192, 384, 48, 128, 128),  # 5b
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def expected_parameters(*, batch_norm: bool = False, naive: bool = False, num_classes: int = 1000) -> int:
    """Parameters summed from the paper's table: convs (k·k·in·out + bias or BN's 2·out) and the FC."""

    def conv(cin: int, cout: int, k: int) -> int:
        return k * k * cin * cout + (2 * cout if batch_norm else cout)

    total = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3)
    channels = 192
    for row in PAPER_TABLE:
        if row == "pool":
            continue
        c1, r3, c3, r5, c5, proj = row
        if naive:
            total += conv(channels, c1, 1) + conv(channels, c3, 3) + conv(channels, c5, 5)
            channels = c1 + c3 + c5 + channels
        else:
            total += conv(channels, c1, 1) + conv(channels, r3, 1) + conv(r3, c3, 3)
            total += conv(channels, r5, 1) + conv(r5, c5, 5) + conv(channels, proj, 1)
            channels = c1 + c3 + c5 + proj
    return total + channels * num_classes + num_classes


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, 6_998_552),
        ({"batch_norm": True}, 7_005_832),
        ({"naive": True}, 97_526_008),
        ({"num_classes": 10}, 6_998_552 - 1024 * 990 - 990),
    ],
)
def test_googlenet_parameters_match_table(options, expected):
    with torch.device("meta"):
        model = create_model("googlenet", **options)
    assert n_params(model) == expected_parameters(**options) == expected


def test_googlenet_caffe_layout():
    with torch.device("meta"):
        model = create_model("googlenet")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 + 9 * 6  # stem + six convs per Inception module
    assert all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.modules()) == 2
    assert model.inceptions.inception3a.branch5x5.conv.kernel_size == (5, 5)
    assert model.aux is None


@pytest.mark.parametrize("naive, depth", [(False, 22), (True, 13)])
def test_googlenet_depth(naive, depth):
    """Layers with parameters on the longest path: the paper's "22 layers deep" for the real net."""
    with torch.device("meta"):
        model = create_model("googlenet", naive=naive)
    stem = sum(isinstance(m, nn.Conv2d) for m in model.stem.modules())
    modules = [m for m in model.inceptions.children() if hasattr(m, "branch3x3_reduce")]
    longest = sum(1 + (m.branch3x3_reduce is not None) for m in modules)
    assert stem + longest + 1 == depth


def test_googlenet_output_sizes_at_224():
    with torch.device("meta"):
        model = create_model("googlenet")
        stem = model.stem(torch.empty(1, 3, 224, 224))
        features = model.forward_features(torch.empty(1, 3, 224, 224))
    assert tuple(stem.shape) == (1, 192, 28, 28)
    assert tuple(features.shape) == (1, 1024, 7, 7)


def test_googlenet_naive_channels_grow():
    with torch.device("meta"):
        model = create_model("googlenet", naive=True)
    assert model.inceptions.inception3a.out_channels == 416
    assert model.inceptions.inception3b.in_channels == 416
    assert all(m.pool_proj is None for m in model.modules() if hasattr(m, "pool_proj"))


def test_googlenet_aux_heads():
    torch.manual_seed(0)
    model = create_model("googlenet", aux_logits=True, num_classes=5).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        logits, aux = model.forward_with_aux(x)
        torch.testing.assert_close(logits, model(x))
    assert logits.shape == (1, 5) and [a.shape for a in aux] == [torch.Size([1, 5])] * 2
    # Each aux head: 1×1 conv 128 (+bias), FC 2048→1024, FC 1024→5.
    aux_params = sum(n_params(head) for head in model.aux)
    assert aux_params == (512 * 128 + 128) + (528 * 128 + 128) + 2 * (2048 * 1024 + 1024 + 1024 * 5 + 5)
