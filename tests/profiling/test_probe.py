"""`onebyone.profiling.probe`: one forward pass before the work, size limits, what a forward returned."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models import create_model
from onebyone.profiling.probe import (
    MAX_SIDE,
    Probe,
    check_input_shape,
    check_shape,
    describe_value,
    probe_forward,
    run_model,
)
from onebyone.timing import MAX_REPEATS, check_repeats, median_seconds


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent: a trace keeps one side
            return x
        return -x


class Scalar(nn.Module):
    def forward(self, x):
        return x * float(x.mean().item())


def test_sample_bytes_is_the_largest_layer_input_plus_output():
    # Conv2d(3 -> 4, 1x1) on 1x3x8x8: input 3*64*4 B + output 4*64*4 B.
    assert probe_forward(nn.Conv2d(3, 4, 1), (1, 3, 8, 8)).sample_bytes == 768 + 1024
    # ... then a ReLU on the 4-channel map: 1024 B in + 1024 B out is the largest.
    probe = probe_forward(nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()), (2, 3, 8, 8))
    assert (probe.sample_bytes, probe.input_shape, probe.output_shape) == (2048, (2, 3, 8, 8), (2, 4, 8, 8))


def test_conversions_of_tensor_values_are_found_with_their_line():
    line = Branchy.forward.__code__.co_firstlineno + 1
    assert probe_forward(Branchy(), (1, 3, 4, 4)).conversions == [f"test_probe.py:{line} (bool)"]
    assert probe_forward(Scalar(), (1, 3, 4, 4)).conversions == [
        f"test_probe.py:{Scalar.forward.__code__.co_firstlineno + 1} (item)"
    ]


def test_shape_arithmetic_is_not_a_conversion():
    # EfficientNet's TensorFlow-SAME padding computes pads from the input size: TracerWarnings in a
    # trace, but plain ints in eager mode, and exact in an ONNX file of fixed height and width.
    assert probe_forward(create_model("efficientnet-lite0"), (1, 3, 64, 64)).conversions == []


def test_flags_are_restored_and_failures_are_one_line():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout())
    probe_forward(model.train(), (1, 1, 5, 5))
    assert all(m.training for m in model.modules())
    with pytest.raises(OneByOneError, match=r"^net does not run on input 1×3×5×5: RuntimeError: .*channels"):
        probe_forward(model, (1, 3, 5, 5), name="net")
    with pytest.raises(OneByOneError, match=r"^Sequential does not run on input 1×1×2×2: RuntimeError"):
        run_model(model, torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "None"),
        ({"logits": 1, "aux": 2}, "a dict (keys: logits, aux)"),
        ({str(i): i for i in range(6)}, "a dict (keys: 0, 1, 2, 3, …)"),
        ((1, 2), "a tuple of 2 values"),
        ([1], "a list of 1 values"),
        (torch.zeros(2, 3, dtype=torch.int64), "a 2×3 tensor (int64)"),
        (torch.tensor(1.0), "a scalar tensor (float32)"),
        (3.0, "a float"),
    ],
)
def test_what_came_back_in_words(value, words):
    assert describe_value(value) == words


def test_a_forward_that_returns_no_tensor_is_refused_unless_asked_not_to():
    class Dict(nn.Module):
        def forward(self, x):
            return {"logits": x}

    with pytest.raises(OneByOneError, match=r"^Dict returns a dict \(keys: logits\) for input 1×2×3×3; "):
        probe_forward(Dict(), (1, 2, 3, 3))
    assert probe_forward(Dict(), (1, 2, 3, 3), tensor_output=False).output_shape == ()


@pytest.mark.parametrize("shape", [(0, 3), (1, MAX_SIDE + 1), (), ("a", 2), (1.5, -1)])
def test_shapes_outside_the_limits_are_refused(shape):
    with pytest.raises(OneByOneError, match="bad input shape"):
        check_shape(shape)


def test_inputs_and_batches_that_cannot_fit_are_refused_before_allocation():
    assert check_shape([2, MAX_SIDE]) == (2, MAX_SIDE)
    with pytest.raises(
        OneByOneError,
        match=r"^input 1024×1024×1024×1024 \(float32\) needs at least "
        r"4,096\.0 GiB; .* is available here$",
    ):
        check_input_shape((1024, 1024, 1024, 1024))
    probe = Probe((1, 3, 8, 8), (1, 10), sample_bytes=1 << 20)
    probe.check_batch(16, "small")  # 16 MiB
    with pytest.raises(OneByOneError, match=r"^huge needs at least 1,048,576\.0 GiB"):
        probe.check_batch(1 << 30, "huge")
    # 1024² times the pixels of the probe's 8×8
    with pytest.raises(OneByOneError, match=r"^large canvas needs at least 16,384\.0 GiB"):
        probe.check_batch(16, "large canvas", area=(8 * 1024, 8 * 1024))


@pytest.mark.parametrize(("repeats", "warmup"), [(0, 0), (MAX_REPEATS + 1, 0), (1, -1), (1, MAX_REPEATS + 1)])
def test_repeat_counts_outside_the_limits_are_refused(repeats, warmup):
    with pytest.raises(OneByOneError, match="must be from"):
        check_repeats(repeats, warmup)
    with pytest.raises(OneByOneError, match="must be from"):
        median_seconds(lambda: None, repeats=repeats, warmup=warmup)


def test_a_large_input_whose_activations_cannot_fit_is_refused_before_it_runs():
    # 1×1×8192×8192 float32 is 256 MiB; a 1×1 conv to 16,384 channels makes 4 TiB of it.
    with pytest.raises(OneByOneError, match=r"^Conv2d on input 1×1×8192×8192 needs at least 4,096\.\d GiB"):
        probe_forward(nn.Conv2d(1, 16384, 1), (1, 1, 8192, 8192))
