"""The typed forms of torch calls give exactly what the untyped calls give."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onebyone.torch_typing import padding_pair, pair, to_memory_format


def test_conv_geometry_comes_back_as_pairs():
    conv = nn.Conv2d(3, 4, (3, 5), stride=(1, 2), padding=(1, 2), dilation=(2, 1))
    assert pair(conv.kernel_size) == (3, 5)
    assert pair(conv.stride) == (1, 2)
    assert pair(conv.dilation) == (2, 1)
    assert padding_pair(conv.padding) == (1, 2)
    assert padding_pair(nn.Conv2d(3, 4, 3, padding="same").padding) == "same"


def test_a_geometry_that_is_not_a_pair_is_refused():
    with pytest.raises(ValueError):
        pair(nn.Conv3d(3, 4, 3).kernel_size)


def test_to_memory_format_moves_the_module_in_place():
    conv = nn.Conv2d(3, 4, 3)
    moved = to_memory_format(conv, torch.channels_last, torch.device("cpu"))
    assert moved is conv
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    back = to_memory_format(conv, torch.contiguous_format)
    assert back is conv and conv.weight.is_contiguous()
