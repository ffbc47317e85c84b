"""Claim C6: Inception 3a with and without 1×1 reductions."""

import pytest
import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.layers import Inception, InceptionConfig

CONFIG_3A = InceptionConfig(
    branch1x1=64, branch3x3_reduce=96, branch3x3=128, branch5x5_reduce=16, branch5x5=32, pool_proj=32
)


def conv_weights(module: nn.Module, *, skip: tuple[str, ...] = ()) -> int:
    """Kernel weights (no biases) of every conv in `module`, optionally skipping some branches."""
    return sum(
        m.weight.numel()
        for name, m in module.named_modules()
        if isinstance(m, nn.Conv2d) and not name.startswith(skip)
    )


def test_c6_naive_kernel_weights_and_channels():
    module = Inception(192, CONFIG_3A.naive())
    # 1·1·192·64 + 3·3·192·128 + 5·5·192·32
    assert conv_weights(module) == 387_072
    assert module.out_channels == 64 + 128 + 32 + 192 == 416
    assert module.branch3x3_reduce is None and module.branch5x5_reduce is None and module.pool_proj is None
    assert not module.config.reduced


def test_c6_reduced_kernel_weights_and_channels():
    module = Inception(192, CONFIG_3A)
    # 192·64 + (192·96 + 9·96·128) + (192·16 + 25·16·32) = 157,184 without the pool projection
    assert conv_weights(module, skip=("pool_proj",)) == 157_184
    assert conv_weights(module) == 157_184 + 192 * 32 == 163_328
    assert module.out_channels == 256
    assert module.config.reduced


@pytest.mark.parametrize(
    "config, expected",
    [
        # naive: 387,072 weights + biases 64 + 128 + 32 = 224
        (CONFIG_3A.naive(), 387_296),
        # reduced: 163,328 weights + biases 64 + 96 + 128 + 16 + 32 + 32 = 368
        (CONFIG_3A, 163_696),
    ],
)
def test_c6_parameters_with_biases(config, expected):
    assert sum(p.numel() for p in Inception(192, config).parameters()) == expected


@pytest.mark.parametrize("config, channels", [(CONFIG_3A, 256), (CONFIG_3A.naive(), 416)])
def test_c6_output_shape_at_28x28(config, channels):
    module = Inception(192, config)
    out = module(torch.randn(2, 192, 28, 28))
    assert out.shape == (2, channels, 28, 28)


def test_naive_pool_branch_passes_input_through():
    torch.manual_seed(0)
    module = Inception(8, InceptionConfig(2, None, 3, None, 4, None))
    x = torch.randn(1, 8, 6, 6)
    out = module(x)
    torch.testing.assert_close(out[:, 2 + 3 + 4 :], nn.functional.max_pool2d(x, 3, 1, 1))


def test_batch_norm_variant_has_no_conv_bias():
    module = Inception(192, CONFIG_3A, batch_norm=True)
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == len(bns) == 6
    assert all(c.bias is None for c in convs)
    assert module(torch.randn(2, 192, 7, 7)).shape == (2, 256, 7, 7)


def test_rejects_non_positive_width():
    with pytest.raises(OneByOneError, match="positive"):
        Inception(192, InceptionConfig(64, 0, 128, 16, 32, 32))


@pytest.mark.parametrize(
    "config, expected_macs",
    [
        # Every conv keeps 28×28 (stride 1, same padding): MACs = kernel weights · 784.
        (CONFIG_3A.naive(), 387_072 * 784),  # 303,464,448
        (CONFIG_3A, 163_328 * 784),  # 128,049,152
    ],
)
def test_c6_macs_at_28x28(config, expected_macs):
    macs = 0

    def count(module, inputs, output):
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output[0].numel() * module.in_channels * kh * kw

    module = Inception(192, config)
    for conv in module.modules():
        if isinstance(conv, nn.Conv2d):
            conv.register_forward_hook(count)
    with torch.no_grad():
        module(torch.randn(1, 192, 28, 28))
    assert macs == expected_macs
