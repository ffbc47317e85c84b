"""The NaN/Inf guard names the non-finite tensors, the epoch and the step."""

import pytest
import torch

from onebyone.errors import OneByOneError
from onebyone.train.guard import TrainingDiverged, check_finite, nonfinite_tensors


def test_nonfinite_tensors_are_named_by_group_and_name():
    groups = {
        "model": {"a": torch.ones(3), "b": torch.tensor([1.0, float("nan")]), "steps": torch.tensor([3])},
        "ema": {"b": torch.tensor([float("-inf")])},
        "rng": {"torch": torch.zeros(4, dtype=torch.uint8)},
    }
    assert nonfinite_tensors(groups) == ["model/b", "ema/b"]
    check_finite({"model": {"a": torch.ones(2)}}, epoch=0, step=1, lr=0.1)  # finite: nothing raised
    with pytest.raises(TrainingDiverged) as caught:
        check_finite(groups, epoch=4, step=60, lr=2.5)
    assert str(caught.value) == (
        "training diverged: 2 tensor(s) hold NaN or Inf (model/b, ema/b) at epoch 5, step 60 (lr 2.5); "
        "try a lower --lr"
    )
    assert isinstance(caught.value, OneByOneError)
    kept = caught.value.keeping("last good checkpoint (epoch 4) kept")
    assert str(kept).endswith("try a lower --lr; last good checkpoint (epoch 4) kept") and kept.step == 60


def test_many_nonfinite_tensors_are_counted_not_listed():
    groups = {"model": {f"w{i}": torch.full((2,), float("inf")) for i in range(7)}}
    with pytest.raises(TrainingDiverged) as caught:
        check_finite(groups, epoch=0, step=1, lr=1.0)
    assert "7 tensor(s) hold NaN or Inf (model/w0, model/w1, model/w2 and 4 more)" in str(caught.value)
