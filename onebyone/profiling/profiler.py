"""`profile(model, input_shape=...)`: exact per-layer cost and receptive field, without computing.

The model runs once on meta tensors (shapes only) through `torch.func.functional_call` with meta
copies of its parameters and buffers, so the user's module is left as it was (its train/eval
flags are restored afterwards). See `capture.py` for how ops are attributed to module calls and
how peak memory is tracked, `counters.py` for the cost conventions and `receptive.py` for fields.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from onebyone.errors import OneByOneError
from onebyone.memory.estimate import MemorySetup, estimate_memory
from onebyone.profiling import receptive
from onebyone.profiling.capture import ProfileError, Tracer, explain_failure
from onebyone.profiling.dtypes import parse_dtype
from onebyone.profiling.results import LayerRow, ProfileResult


def profile(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    example_inputs: torch.Tensor | Sequence | None = None,
    dtype: torch.dtype | str = torch.float32,
    train: bool = False,
    name: str | None = None,
    memory: MemorySetup | None = None,
) -> ProfileResult:
    """Measure `model` per module call: parameters, MACs, other FLOPs, memory, receptive field.

    Nothing is computed: the forward runs once on meta tensors under a dispatch mode. Each row holds
    the ops a module call issued itself (children have their own rows), so totals are row sums.
    The peak live activation memory is measured from the lifetimes of the meta tensors in this
    eager, no-grad run: bytes are added when an op allocates a storage and removed when weakref
    finalizers report that the last tensor on it was freed (see `capture.py`).

    Args:
        model: any nn.Module; it is not modified (parameters are swapped for meta copies only for
            the duration of the call, and train/eval flags are restored).
        input_shape: full input shape including the batch, e.g. (1, 3, 224, 224).
        example_inputs: instead of `input_shape`, a tensor or a tuple of positional arguments;
            tensors are replaced by meta tensors of the same shape and dtype (data is never read).
        dtype: dtype (or its name) of the input built from `input_shape` (sets activation byte counts).
        train: profile the training-mode forward (batch statistics, dropout) instead of inference.
        name: label for reports (default: the model's class name).
        memory: also predict peak memory (`result.memory`, see memory.estimate_memory): of
            inference, and with `train` of one training step with this optimizer and autocast.

    Raises:
        OneByOneError: bad arguments; ProfileError (a subclass) when the model cannot run on the
            input, naming the module path and shapes (wrong channels, input too small, ...).
    """
    if not isinstance(model, nn.Module):
        raise OneByOneError(f"profile() needs an nn.Module, got {type(model).__name__}")
    dtype = parse_dtype(dtype)
    args = _meta_inputs(input_shape, example_inputs, dtype)
    input_shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]

    names = {id(m): n for n, m in model.named_modules()}
    meta_state, meta_by_id = _meta_state(model)
    param_names = {id(t): n for n, t in _unique_named(model)}
    tracer = Tracer(names, {id(meta_by_id[i]): n for i, n in param_names.items()})
    for tensor in meta_by_id.values():
        tracer.add_constant(tensor)
    spatial_dims = max(len(input_shapes[0]) - 2, 0) if input_shapes else 0
    for arg in args:
        if isinstance(arg, torch.Tensor) and arg.dim() >= 3:
            sizes = tuple(arg.shape[-spatial_dims:]) if arg.dim() == spatial_dims + 2 else None
            tracer.track(arg, receptive.identity(spatial_dims, sizes))

    modules: list[nn.Module] = []

    def pre_hook(module, hook_args):
        if tracer.stack or module is model:
            modules.append(module)
            tracer.pre_hook(module, hook_args)

    def post_hook(module, hook_args, output):
        if tracer.stack and modules[tracer.stack[-1]] is module:
            tracer.post_hook(module, hook_args, output)

    modes = [(m, m.training) for m in model.modules()]
    model.train(train)
    handles = [register_module_forward_pre_hook(pre_hook), register_module_forward_hook(post_hook)]
    try:
        with torch.no_grad(), tracer:
            torch.func.functional_call(model, meta_state, tuple(args), strict=False)
    except ProfileError:
        raise
    except Exception as exc:  # the user's model raised: say where and on what
        raise explain_failure(tracer, exc, input_shapes) from exc
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training

    rows = _rows(tracer, modules, model, param_names)
    predicted = None
    if memory is not None:
        if input_shape is None:
            raise OneByOneError("memory= needs input_shape=(N, C, H, W), not example_inputs")
        predicted = estimate_memory(model, input_shape, memory, train=train)
    return ProfileResult(
        model=name or type(model).__name__,
        input_shapes=input_shapes,
        dtype=str(dtype).replace("torch.", ""),
        rows=rows,
        peak_activation_bytes=tracer.peak_bytes,
        warnings=tracer.warnings,
        memory=predicted,
        fields={(r.path, r.call): r.field for r in tracer.calls},
    )


def _meta_inputs(input_shape, example_inputs, dtype) -> list:
    if (input_shape is None) == (example_inputs is None):
        raise OneByOneError("give exactly one of input_shape=(N, C, H, W) or example_inputs=")
    if input_shape is not None:
        try:
            shape = tuple(int(d) for d in input_shape)
        except (TypeError, ValueError):
            expected = "expected integers like (1, 3, 224, 224)"
            raise OneByOneError(f"bad input_shape {input_shape!r}; {expected}") from None
        if not shape or any(d <= 0 for d in shape):
            raise OneByOneError(f"bad input_shape {input_shape!r}; sizes must be positive")
        return [torch.empty(shape, dtype=dtype, device="meta")]
    items = [example_inputs] if isinstance(example_inputs, torch.Tensor) else list(example_inputs)
    return [torch.empty_like(a, device="meta") if isinstance(a, torch.Tensor) else a for a in items]


def _unique_named(model: nn.Module):
    yield from model.named_parameters()
    yield from model.named_buffers()


def _meta_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[int, torch.Tensor]]:
    """Meta copies of every parameter and buffer under all their names; one copy per tensor."""
    by_id: dict[int, torch.Tensor] = {}
    state: dict[str, torch.Tensor] = {}
    named: list[tuple[str, torch.Tensor]] = list(model.named_parameters(remove_duplicate=False))
    named += list(model.named_buffers(remove_duplicate=False))
    for qualified, tensor in named:
        if tensor is None:
            continue
        copy = by_id.get(id(tensor))
        if copy is None:
            copy = by_id[id(tensor)] = torch.empty_like(tensor, device="meta")
        state[qualified] = copy
    return state, by_id


def _rows(tracer: Tracer, modules: list[nn.Module], model: nn.Module, param_names) -> list[LayerRow]:
    seen: set[int] = set()
    rows: list[LayerRow] = []

    def own_params(module: nn.Module, row: LayerRow) -> None:
        for param in module.parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            n = param.numel()
            row.params += n
            if param.requires_grad:
                row.trainable_params += n
            else:
                row.frozen_params += n
            if param_names.get(id(param)) in tracer.pointwise_params:
                row.pointwise_params += n

    for index, (record, module) in enumerate(zip(tracer.calls, modules, strict=True)):
        row = LayerRow(
            path=record.path,
            call=record.call,
            type=record.type,
            depth=record.depth,
            output_shape=record.output_shape,
            macs=record.macs,
            other_flops=record.other_flops,
            activation_bytes=record.activation_bytes,
            pointwise_macs=record.pointwise_macs,
            uncounted=dict(record.uncounted),
            receptive_field=record.field.to_dict() if record.field is not None else None,
            parent=record.parent,
        )
        row.is_pointwise_conv = record.pointwise_macs > 0 and record.pointwise_macs == record.macs
        if tracer.first_call.get(id(module)) == index:
            own_params(module, row)
        rows.append(row)

    called = {id(m) for m in modules}
    for path, module in model.named_modules():
        if id(module) in called or not any(True for _ in module.parameters(recurse=False)):
            continue
        row = LayerRow(
            path=path,
            call=None,
            type=type(module).__name__,
            depth=path.count(".") + 1 if path else 0,
            output_shape=None,
        )
        own_params(module, row)
        if row.params:
            rows.append(row)
    return rows
