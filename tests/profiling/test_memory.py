"""The memory estimate against real CPU steps measured by the allocator, to the byte where the
CPU kernels allocate nothing of their own, and its parts against what they must be."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.memory.estimate import MemorySetup, estimate_memory, simulate
from onebyone.memory.fit import largest_batch
from onebyone.memory.measure import measure_inference, measure_training_step
from onebyone.memory.optimizers import OPTIMIZERS, OptimizerMemory, optimizer_memory
from onebyone.models import create_model

# C++ wraps each Python scalar of an op (Adam's `add_(eps)`, `mul_(beta)`) in 0-dim tensors of 8
# and 4 bytes that no dispatch mode sees: at most this many bytes live at once.
SCALAR_WRAPPERS = 16


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))


def weight_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


@pytest.mark.parametrize("device", ["cpu", "cuda"])  # cuda: the foreach step, run here on the CPU
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_mlp_training_peak_equals_the_allocator(optimizer, device):
    setup = MemorySetup(optimizer=optimizer, device=device)
    predicted = estimate_memory(mlp(), (8, 100), setup)
    measured = measure_training_step(mlp(), (8, 100), setup)
    slack = SCALAR_WRAPPERS if optimizer.startswith("adam") else 0
    assert 0 <= measured.peak_bytes - predicted.training.peak_bytes <= slack
    assert sum(predicted.training.parts.values()) == predicted.training.peak_bytes
    assert predicted.inference.peak_bytes == measure_inference(mlp(), (8, 100), setup).peak_bytes


def test_mlp_parts_are_what_they_must_be():
    model = mlp()
    weights = weight_bytes(model)  # (100·50 + 50 + 50·10 + 10) floats
    assert weights == 5_560 * 4
    states = {
        name: estimate_memory(model, (8, 100), MemorySetup(optimizer=name)).training.parts["optimizer"]
        for name in OPTIMIZERS
    }
    assert states["none"] == states["sgd"] == 0
    assert states["sgd-momentum"] == weights  # one momentum buffer per parameter
    assert states["adam"] == states["adamw"] == 2 * weights + 4 * 4  # two buffers + a float32 step each
    result = estimate_memory(model, (8, 100), MemorySetup(optimizer="none"))
    assert result.training.parts["weights"] == result.inference.parts["weights"] == weights
    assert result.inference.peak_bytes - weights == result.inference.parts["transient"]


def test_no_optimizer_keeps_no_state_and_takes_no_step():
    # called directly (the estimate skips "none" itself), it used to fail on None.step()
    params = [torch.zeros(50, 100), torch.zeros(10)]
    assert optimizer_memory("none", params) == OptimizerMemory(0, 0)
    assert optimizer_memory("sgd-momentum", params).state_bytes == (5_000 + 10) * 4


def test_conv_net_within_the_target_of_the_allocator():
    """nin-fashion as the training recipe runs it: bf16 autocast, channels-last, SGD momentum."""
    setup = MemorySetup(optimizer="sgd-momentum", autocast="bfloat16", channels_last=True)
    torch.manual_seed(0)
    predicted = estimate_memory(create_model("nin-fashion"), (64, 1, 28, 28), setup)
    measured = measure_training_step(create_model("nin-fashion"), (64, 1, 28, 28), setup)
    assert predicted.training.peak_bytes == pytest.approx(measured.peak_bytes, rel=0.10)
    inference = measure_inference(create_model("nin-fashion"), (64, 1, 28, 28), setup)
    assert predicted.inference.peak_bytes == pytest.approx(inference.peak_bytes, rel=0.10)
    fp32 = estimate_memory(create_model("nin-fashion"), (64, 1, 28, 28), MemorySetup("sgd-momentum"))
    assert predicted.training.parts["saved"] < fp32.training.parts["saved"]  # bf16 activations


def test_the_foreach_step_holds_temporaries_for_every_parameter_at_once():
    # Adam's foreach step makes one whole list (the square roots of every exp_avg_sq) before it
    # updates: its peak above the state is every parameter's bytes. One at a time, it is two
    # temporaries of the largest parameter (the denominator and the scaled update).
    params = [torch.zeros(50, 100), torch.zeros(50), torch.zeros(10, 50), torch.zeros(10)]
    total = sum(p.numel() * 4 for p in params)
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        fakes = [nn.Parameter(torch.empty(p.shape)) for p in params]
        single = optimizer_memory("adam", fakes)
        multi = optimizer_memory("adam", fakes, foreach=True)
    assert multi.state_bytes == single.state_bytes == 2 * total + 4 * len(params)
    assert multi.step_peak_bytes == total
    assert single.step_peak_bytes == 2 * 50 * 100 * 4


def test_cuda_prediction_leaves_out_the_cpu_kernels_copies():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, padding=1)
    shape = (2, 16, 20, 20)
    tensors = weight_bytes(conv) + 4 * (2 * 16 * 20 * 20 + 2 * 32 * 20 * 20)  # weights, input, output
    on_cuda = estimate_memory(conv, shape, MemorySetup(device="cuda"), train=False)
    on_cpu = estimate_memory(conv, shape, MemorySetup(device="cpu"), train=False)
    assert on_cuda.inference.peak_bytes == tensors
    assert on_cpu.inference.peak_bytes > tensors  # oneDNN's blocked copies of input and output
    assert on_cuda.device == "cuda" and on_cuda.to_dict()["device"] == "cuda"


def test_channels_first_convs_count_onednn_copies():
    """fp32 NCHW: oneDNN's blocked copies inside each conv (kernels.py) are where nin-cifar peaks;
    without them the prediction was 12.6% low."""
    setup = MemorySetup(optimizer="sgd-momentum")
    torch.manual_seed(0)
    predicted = estimate_memory(create_model("nin-cifar"), (32, 3, 32, 32), setup)
    training = measure_training_step(create_model("nin-cifar"), (32, 3, 32, 32), setup)
    inference = measure_inference(create_model("nin-cifar"), (32, 3, 32, 32), setup)
    assert predicted.training.peak_bytes == pytest.approx(training.peak_bytes, rel=0.01)
    assert predicted.inference.peak_bytes == pytest.approx(inference.peak_bytes, rel=0.01)


class Repeated(nn.Module):
    def __init__(self, calls: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.calls = calls

    def forward(self, x):
        for _ in range(self.calls):
            x = self.block(x)
        return x.mean((2, 3))


def test_a_module_called_many_times_keeps_each_call():
    """torchinfo #144: each call of a shared block saves its own input for backward."""
    peaks = {
        n: estimate_memory(Repeated(n), (2, 4, 16, 16), MemorySetup("sgd")).training for n in (10, 20, 40)
    }
    per_call = 2 * 4 * 16 * 16 * 4  # the ReLU's output, the next conv's input (the conv's own is not kept)
    assert peaks[20].parts["saved"] - peaks[10].parts["saved"] == 10 * per_call
    assert peaks[40].parts["saved"] - peaks[20].parts["saved"] == 20 * per_call
    kept = {m.path: m.saved_bytes for m in peaks[40].modules}
    assert kept.keys() == {"(outside modules)", "block.1"} and kept["block.1"] == 40 * per_call
    assert per_call < kept["(outside modules)"] < per_call + 64  # the batch, and the loss's few bytes


def test_frozen_parameters_have_no_gradients_or_state():
    model = create_model("nin-fashion")
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("head")
    head = sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    step = estimate_memory(model, (16, 1, 28, 28), MemorySetup("sgd-momentum")).training
    assert step.parts["optimizer"] == head
    assert step.parts["gradients"] <= head
    full = estimate_memory(create_model("nin-fashion"), (16, 1, 28, 28), MemorySetup("sgd-momentum")).training
    assert step.peak_bytes < full.peak_bytes


def test_the_model_is_left_as_it_was():
    model = mlp().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    estimate_memory(model, (8, 100))
    assert not model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])
        assert value.device.type == "cpu"


@pytest.mark.parametrize("budget", [2_000_000, 5_000_000, 20_000_000])
@pytest.mark.parametrize("train", [True, False])
def test_largest_batch_is_exact_against_the_predictions(budget, train):
    model, setup = create_model("nin-fashion", width=0.25), MemorySetup("adamw")
    fit = largest_batch(model, (1, 28, 28), budget, setup, train=train)

    def peak(batch):
        return simulate(model, (batch, 1, 28, 28), setup, train=train).peak_bytes

    assert fit.batch_size >= 1
    assert fit.peak_bytes == peak(fit.batch_size) <= budget < peak(fit.batch_size + 1) == fit.next_peak_bytes


def test_no_batch_fits_a_tiny_budget():
    fit = largest_batch(mlp(), (100,), 1_000, MemorySetup("adamw"))
    assert fit.batch_size == 0 and fit.peak_bytes is None and fit.next_peak_bytes > 1_000


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: MemorySetup(optimizer="lion"), "unknown optimizer 'lion'"),
        (lambda: MemorySetup(autocast="int8"), "unknown autocast dtype 'int8'"),
        (lambda: MemorySetup(device="tpu"), "unknown device 'tpu'"),
        (lambda: estimate_memory(mlp(), (0, 100)), "bad input shape"),
        (lambda: estimate_memory(mlp(), (8, 99)), "memory estimate failed"),
        (lambda: largest_batch(mlp(), (100,), 0), "positive number of bytes"),
    ],
)
def test_bad_arguments_name_the_problem(call, words):
    with pytest.raises(OneByOneError, match=words):
        call()


def test_profile_carries_the_same_estimate():
    from onebyone.profiling import profile

    setup = MemorySetup("adam", "bfloat16")
    result = profile(mlp(), (8, 100), train=True, memory=setup)
    direct = estimate_memory(mlp(), (8, 100), setup)
    assert result.memory.training.to_dict() == direct.training.to_dict()
    assert result.to_dict()["memory"]["training"]["peak_bytes"] == direct.training.peak_bytes
    assert profile(mlp(), (8, 100)).memory is None


def test_the_batch_that_fits_fits_a_real_step():
    setup, budget = MemorySetup("sgd-momentum"), 6_000_000
    torch.manual_seed(0)
    fit = largest_batch(create_model("nin-fashion", width=0.25), (1, 28, 28), budget, setup)
    shape = (fit.batch_size, 1, 28, 28)
    measured = measure_training_step(create_model("nin-fashion", width=0.25), shape, setup)
    assert fit.batch_size > 1 and measured.peak_bytes <= budget < fit.next_peak_bytes
