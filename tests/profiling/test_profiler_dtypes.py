"""`profile` takes a dtype as torch users pass it, or by name; the input's bytes follow it."""

import pytest
import torch

from onebyone import profile
from onebyone.errors import OneByOneError
from onebyone.layers import Pointwise


@pytest.mark.parametrize("dtype", [torch.bfloat16, "bfloat16", "torch.bfloat16"])
def test_a_dtype_by_object_or_name(dtype):
    result = profile(Pointwise(8, 4, bias=False), (1, 8, 16, 16), dtype=dtype)
    assert result.dtype == "bfloat16" and result.totals["macs"] == 8 * 4 * 16 * 16


def test_an_unknown_dtype_is_one_line():
    with pytest.raises(OneByOneError, match="unknown dtype 'float33'"):
        profile(Pointwise(8, 4), (1, 8, 4, 4), dtype="float33")
