"""`estimate_memory(model, input_shape)`: the peak memory of a training step and of inference,
observed on fake tensors in milliseconds to a second, without allocating anything.

The step is run for real on FakeTensors (shapes, strides and dtypes, no data, on the CPU as far
as PyTorch's dispatch is concerned, so CPU autocast applies exactly as in a real run):
`zero_grad(set_to_none=True)`, forward (under autocast when `autocast` is a dtype), the loss,
`backward()`, `optimizer.step()` (the optimizer state exists, as in any step after the first).
A `Ledger` (ledger.py) follows every storage's lifetime; what autograd saves for backward is
observed with `torch.autograd.graph.saved_tensors_hooks`, and gradients when they are
accumulated, so the peak comes with its parts: weights (parameters + buffers), optimizer state,
gradients, saved activations, and the transient rest (the batch, activations in flight,
temporaries).

The optimizer is the real torch.optim class. Its state and the temporaries of its step are
observed on copies of the largest and smallest parameter of each dtype (optimizer.py): on the CPU
torch steps one parameter at a time (its single-tensor implementation), so the state is a sum over
parameters and the step's extra peak is that of the largest parameter's step. What CPU kernels
allocate inside an op (oneDNN's blocked copies) comes from kernels.py. See docs/memory.md for how
this compares with measured peaks (within 1.1% of the CPU allocator on 14 cases).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from onebyone.errors import OneByOneError
from onebyone.memory.kernels import cpu_workspace
from onebyone.memory.ledger import KINDS, Ledger, unpack
from onebyone.memory.optimizers import OPTIMIZERS, OptimizerMemory, optimizer_memory
from onebyone.memory.results import MemoryResult, ModuleMemory, StepMemory

AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
# cpu: oneDNN's blocked copies inside convolutions (kernels.py), the optimizer one parameter at a
# time. cuda: no kernel workspace modelled (cuDNN's is its own choice), the multi-tensor (foreach)
# optimizer step that torch uses there by default. See docs/memory.md for both against real runs.
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class MemorySetup:
    """What the step does besides the model: optimizer, mixed precision, memory layout."""

    optimizer: str = "adamw"  # none | sgd | sgd-momentum | adam | adamw (optimizer.OPTIMIZERS)
    autocast: str = "float32"  # float32 (no autocast) | bfloat16 | float16
    channels_last: bool = False
    device: str = "cpu"  # cpu | cuda (DEVICES): what the step's kernels and optimizer do there

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise OneByOneError(f"unknown device {self.device!r}; expected one of {', '.join(DEVICES)}")
        if self.optimizer not in OPTIMIZERS:
            raise OneByOneError(
                f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}"
            )
        if self.autocast not in AUTOCAST:
            raise OneByOneError(
                f"unknown autocast dtype {self.autocast!r}; expected one of {', '.join(AUTOCAST)}"
            )


def estimate_memory(
    model: nn.Module,
    input_shape: Sequence[int],
    setup: MemorySetup | None = None,
    *,
    train: bool = True,
) -> MemoryResult:
    """Predicted peak bytes of one inference pass and (with `train`) of one training step.

    Args:
        model: any nn.Module; it is not modified and nothing of it is computed.
        input_shape: the batch's shape, batch first, e.g. (64, 3, 224, 224).
        setup: optimizer, autocast dtype and memory layout of the step (default: AdamW, fp32).
        train: also simulate the training step (inference alone is cheaper).
    """
    setup = setup or MemorySetup()
    shape = _checked_shape(input_shape)
    simulator = Simulator(model, setup)
    return MemoryResult(
        input_shape=list(shape),
        optimizer=setup.optimizer,
        autocast=setup.autocast,
        channels_last=setup.channels_last,
        device=setup.device,
        inference=simulator.run(shape, train=False),
        training=simulator.run(shape, train=True) if train else None,
    )


def simulate(model: nn.Module, shape: tuple[int, ...], setup: MemorySetup, *, train: bool) -> StepMemory:
    """One inference pass (eval, no_grad) or one training step on fake tensors, with its peak."""
    return Simulator(model, setup).run(_checked_shape(shape), train=train)


class Simulator:
    """Fake copies of a model's parameters and buffers, made once, to simulate passes on.

    `run(shape, train=...)` simulates one inference pass or one training step at `shape`; the
    optimizer's memory is observed once, on the first training step (optimizer.py).
    """

    def __init__(self, model: nn.Module, setup: MemorySetup) -> None:
        from torch._subclasses.fake_tensor import FakeTensorMode  # imported on first use: it is slow

        self.model, self.setup = model, setup
        self.fake = FakeTensorMode(allow_non_fake_inputs=True)
        self.names = {id(m): n for n, m in model.named_modules()}
        with self.fake:
            self.state, self.params = _fake_state(model, setup.channels_last)
        self._optimizer: OptimizerMemory | None = None

    def _optimizer_memory(self) -> OptimizerMemory:
        if self._optimizer is None:
            trainable = [p for p in self.params if p.requires_grad]
            if self.setup.optimizer == "none" or not trainable:
                self._optimizer = OptimizerMemory(0, 0)
            else:
                foreach = self.setup.device == "cuda"
                self._optimizer = optimizer_memory(self.setup.optimizer, trainable, foreach=foreach)
        return self._optimizer

    def run(self, shape: tuple[int, ...], *, train: bool) -> StepMemory:
        model, setup = self.model, self.setup
        modes = [(m, m.training) for m in model.modules()]
        stack: list[str] = []
        workspace = cpu_workspace if setup.device == "cpu" else None
        ledger = Ledger(owner=lambda: stack[-1] if stack else None, workspace=workspace)
        types: dict[str, str] = {}

        def pre_hook(module, args):
            name = self.names.get(id(module))
            if name is not None:
                stack.append(name)
                types.setdefault(name, type(module).__name__)

        def post_hook(module, args, output):
            if self.names.get(id(module)) is not None and stack:
                stack.pop()

        handles = [register_module_forward_pre_hook(pre_hook), register_module_forward_hook(post_hook)]
        try:
            with self.fake:
                x = torch.empty(shape).contiguous(memory_format=layout_of(setup, len(shape)))
                ledger.add_constant("weights", self.state.values())
                step_extra = 0
                if train:
                    optimizer = self._optimizer_memory()
                    ledger.add_bytes("optimizer", optimizer.state_bytes)
                    step_extra = optimizer.step_peak_bytes
                    for p in self.params:
                        p.grad = None
                        if p.requires_grad:
                            handles.append(
                                p.register_post_accumulate_grad_hook(lambda q: ledger.mark_gradient(q.grad))
                            )
                model.train(train)
                with ledger:
                    ledger.track(x)
                    if train:
                        with torch.autograd.graph.saved_tensors_hooks(ledger.pack, unpack):
                            with autocast_of(setup):
                                out = torch.func.functional_call(model, self.state, (x,), strict=False)
                                loss = loss_of(out)
                            del out
                            if loss.requires_grad:
                                loss.backward()
                            del loss
                        ledger.reserve(step_extra)
                    else:
                        with torch.no_grad(), autocast_of(setup):
                            out = torch.func.functional_call(model, self.state, (x,), strict=False)
                        del out
        except OneByOneError:
            raise
        except Exception as exc:
            where = f" in {stack[-1]}" if stack else ""
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OneByOneError(
                f"memory estimate failed{where} at input {_shape_text(shape)}: {text}"
            ) from exc
        finally:
            for handle in handles:
                handle.remove()
            for p in self.params:
                p.grad = None
            for module, training in modes:
                module.training = training
        parts = {kind: ledger.peak_parts[kind] for kind in KINDS}
        modules = [
            ModuleMemory("(outside modules)", "", n)
            if path is None
            else ModuleMemory(path, types.get(path, ""), n)
            for path, n in ledger.saved_by_owner.items()
        ]
        return StepMemory(peak_bytes=ledger.peak, parts=parts, modules=modules)


def _fake_state(model: nn.Module, channels_last: bool):
    """Fake copies of every parameter (requires_grad kept) and buffer, under all their names."""
    by_id: dict[int, torch.Tensor] = {}
    state: dict[str, torch.Tensor] = {}
    params: list[torch.Tensor] = []
    named: list[tuple[str, torch.Tensor, bool]] = [
        (n, t, True) for n, t in model.named_parameters(remove_duplicate=False)
    ]
    named += [(n, t, False) for n, t in model.named_buffers(remove_duplicate=False)]
    for qualified, tensor, is_param in named:
        if tensor is None:
            continue
        copy = by_id.get(id(tensor))
        if copy is None:
            stride = tensor.stride()
            if channels_last and tensor.dim() == 4:
                stride = (
                    torch.empty(tensor.shape, device="meta")
                    .contiguous(memory_format=torch.channels_last)
                    .stride()
                )
            copy = torch.empty_strided(tensor.shape, stride, dtype=tensor.dtype)  # fake: inside the mode
            if is_param:
                copy = nn.Parameter(copy, requires_grad=tensor.requires_grad)
                params.append(copy)
            by_id[id(tensor)] = copy
        state[qualified] = copy
    return state, params


def loss_of(out) -> torch.Tensor:
    """Cross-entropy against class labels: (N, K) logits, or (N, K, ...) maps with (N, ...) labels."""
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if isinstance(out, dict) and out:
        out = next(iter(out.values()))
    if not isinstance(out, torch.Tensor) or out.dim() < 2 or not out.is_floating_point():
        raise OneByOneError("the model's output is not a (N, classes, ...) tensor to take a loss of")
    labels = torch.zeros((out.shape[0], *out.shape[2:]), dtype=torch.long, device=out.device)
    return nn.functional.cross_entropy(out, labels)


def autocast_of(setup: MemorySetup, device_type: str = "cpu"):
    dtype = AUTOCAST[setup.autocast]
    return torch.autocast(device_type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def layout_of(setup: MemorySetup, dims: int) -> torch.memory_format:
    return torch.channels_last if setup.channels_last and dims == 4 else torch.contiguous_format


def _checked_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise OneByOneError(
            f"bad input shape {input_shape!r}; expected integers like (64, 3, 224, 224)"
        ) from None
    if len(shape) < 2 or any(d <= 0 for d in shape):
        raise OneByOneError(f"bad input shape {input_shape!r}; expected positive sizes, batch first")
    return shape


def _shape_text(shape) -> str:
    return "×".join(map(str, shape))
