"""Claim C11: global average pooling, spatial pyramid pooling, Caffe ceil pooling."""

import pytest
import torch
import torch.nn.functional as F

from onebyone.errors import OneByOneError
from onebyone.layers import GlobalAvgPool, SpatialPyramidPool, caffe_max_pool, spp_window


@pytest.mark.parametrize("flatten, shape", [(True, (2, 5)), (False, (2, 5, 1, 1))])
def test_global_avg_pool(flatten, shape):
    x = torch.randn(2, 5, 6, 7)
    out = GlobalAvgPool(flatten=flatten)(x)
    assert out.shape == shape
    torch.testing.assert_close(out.reshape(2, 5), x.mean(dim=(2, 3)))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("levels, per_channel", [((4, 2, 1), 21), ((6, 3, 2, 1), 50)])
def test_spp_same_length_for_three_input_sizes(mode, levels, per_channel):
    spp = SpatialPyramidPool(levels, mode=mode)
    lengths = {spp(torch.randn(2, 8, h, w)).shape for h, w in [(13, 13), (10, 17), (32, 24)]}
    assert lengths == {torch.Size([2, 8 * per_channel])}
    assert spp.output_length(8) == 8 * per_channel


@pytest.mark.parametrize("size", range(4, 30))
def test_spp_fixed_length_for_every_size_down_to_the_finest_level(size):
    assert SpatialPyramidPool((4, 2, 1))(torch.randn(1, 3, size, size + 1)).shape == (1, 63)


@pytest.mark.parametrize(
    "size, bins, window, stride",
    # SPP-net's rule: window ceil(a/n), stride floor(a/n); 13×13 conv5 of the paper with n = 3, 2, 1.
    [(13, 3, 5, 4), (13, 2, 7, 6), (13, 1, 13, 13), (13, 4, 4, 3), (10, 6, 2, 1)],
)
def test_spp_window_rule(size, bins, window, stride):
    assert spp_window(size, bins) == (window, stride)


def test_spp_level_equals_explicit_max_pool():
    x = torch.randn(1, 2, 13, 13)
    out = SpatialPyramidPool((3,), mode="max")(x)
    torch.testing.assert_close(out, F.max_pool2d(x, 5, 4).flatten(1))


def test_spp_global_level_is_global_pool():
    x = torch.randn(3, 4, 9, 11)
    torch.testing.assert_close(SpatialPyramidPool((1,), mode="avg")(x), x.mean(dim=(2, 3)))
    torch.testing.assert_close(SpatialPyramidPool((1,), mode="max")(x), x.amax(dim=(2, 3)))


@pytest.mark.parametrize("shape", [(1, 3, 3, 3), (1, 3, 10, 3)])
def test_spp_rejects_input_smaller_than_finest_level(shape):
    with pytest.raises(OneByOneError, match="smaller than its finest level 4"):
        SpatialPyramidPool((4, 2, 1))(torch.randn(shape))


@pytest.mark.parametrize("kwargs", [{"mode": "median"}, {"levels": ()}, {"levels": (2, 0)}])
def test_spp_rejects_bad_configuration(kwargs):
    with pytest.raises(OneByOneError):
        SpatialPyramidPool(**kwargs)


@pytest.mark.parametrize(
    "size, ceil_out, floor_out",
    # Caffe: ceil((in − k)/s) + 1 with k = 3, s = 2; floor pooling loses the last row.
    [(54, 27, 26), (27, 13, 13), (13, 6, 6), (32, 16, 15), (16, 8, 7), (28, 14, 13)],
)
def test_caffe_ceil_pooling(size, ceil_out, floor_out):
    x = torch.randn(1, 1, size, size)
    assert caffe_max_pool(3, 2)(x).shape[-1] == ceil_out
    assert F.max_pool2d(x, 3, 2).shape[-1] == floor_out
