"""Trace one forward pass on meta tensors at the ATen dispatch level.

Meta tensors carry shapes and dtypes but no data, so the pass costs the same at 2048² as at 32²
and nothing is computed. A TorchDispatchMode sees every ATen op (functional calls, `+`, `cat`,
views included); global module hooks keep a stack of module calls, so each op is charged to the
innermost module call that issued it, identified by path and call index.

Peak live activation memory is tracked from real tensor lifetimes in this eager run: each op
output that allocates a new storage adds its bytes to the live total; a weakref finalizer on
every tensor viewing that storage decrements a per-storage count, and the bytes leave the total
when the last of them is garbage collected (CPython frees intermediates as soon as the forward
drops them). The estimate is the maximum of that total just after each op; it covers the input
and activations, not parameters, allocator caching or kernel workspaces.
"""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

from onebyone.errors import OneByOneError
from onebyone.profiling import counters, receptive

# Ops whose values do not depend on their tensor arguments (only on their shapes): no field.
INPUT_FREE_OPS = frozenset(
    {
        "new_empty",
        "new_empty_strided",
        "new_zeros",
        "new_ones",
        "new_full",
        "empty_like",
        "zeros_like",
        "ones_like",
        "full_like",
        "rand_like",
        "randn_like",
        "randint_like",
    }
)


class ProfileError(OneByOneError):
    """The model could not run on the given input: names the module path and the shapes."""

    def __init__(self, message: str, *, module_path: str | None = None, input_shapes=None) -> None:
        super().__init__(message)
        self.module_path = module_path
        self.input_shapes = input_shapes


@dataclass
class CallRecord:
    """What one module call did itself (ops issued inside it but outside its child calls)."""

    path: str
    call: int
    type: str
    depth: int
    parent: int | None
    input_shapes: list[list[int]] = field(default_factory=list)
    output_shape: list[int] | None = None
    macs: int = 0
    other_flops: int = 0
    activation_bytes: int = 0
    pointwise_macs: int = 0
    ops: Counter = field(default_factory=Counter)
    uncounted: Counter = field(default_factory=Counter)
    field: receptive.Field | None = None


def shape_text(shape) -> str:
    return "×".join(str(int(d)) for d in shape)


class Tracer(TorchDispatchMode):
    """Records ops per module call; use `run(model, params, inputs)` once."""

    def __init__(self, names: dict[int, str], param_ids: dict[int, str]) -> None:
        super().__init__()
        self.names = names  # id(module) -> qualified name in the model
        self.param_ids = param_ids  # id(meta parameter) -> parameter name
        self.calls: list[CallRecord] = []
        self.stack: list[int] = []
        self.call_counts: Counter = Counter()
        self.info: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> (field, storage key)
        self.storages: dict[int, list[int]] = {}  # storage key -> [tensor count, nbytes]
        self.live_bytes = 0
        self.peak_bytes = 0
        self.warnings: list[str] = []
        self.pointwise_params: set[str] = set()
        self.first_call: dict[int, int] = {}  # id(module) -> index of its first call record
        self._keys: dict = {}  # OpOverload -> table key

    def add_constant(self, tensor: torch.Tensor) -> None:
        """A parameter or buffer: views of it are not activations, and it is never freed here."""
        self.storages[tensor.untyped_storage()._cdata] = [1 << 62, 0]

    # -- tensors and lifetimes -------------------------------------------------------------
    def _release(self, key: int) -> None:
        entry = self.storages.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live_bytes -= entry[1]
            del self.storages[key]

    def track(self, tensor: torch.Tensor, fld: receptive.Field | None) -> int:
        """Start tracking `tensor`; returns the bytes of a newly allocated storage (0 for a view)."""
        storage = tensor.untyped_storage()
        key = storage._cdata
        entry = self.storages.get(key)
        new_bytes = 0
        if entry is None:
            new_bytes = storage.nbytes()
            self.storages[key] = [1, new_bytes]
            self.live_bytes += new_bytes
        else:
            entry[0] += 1
        self.info[tensor] = fld
        weakref.finalize(tensor, self._release, key)
        return new_bytes

    # -- module calls ------------------------------------------------------------------------
    def pre_hook(self, module: nn.Module, args) -> None:
        parent = self.stack[-1] if self.stack else None
        name = self.names.get(id(module))
        if name is None:  # a module created on the fly, not an attribute of the model
            base = self.calls[parent].path if parent is not None else ""
            name = f"{base}.<{type(module).__name__}>" if base else f"<{type(module).__name__}>"
        index = len(self.calls)
        record = CallRecord(
            path=name,
            call=self.call_counts[name],
            type=type(module).__name__,
            depth=len(self.stack),
            parent=parent,
            input_shapes=[list(a.shape) for a in _tensors(args)],
        )
        self.call_counts[name] += 1
        self.calls.append(record)
        self.first_call.setdefault(id(module), index)
        self.stack.append(index)

    def post_hook(self, module: nn.Module, args, output) -> None:
        index = self.stack.pop()
        outs = _tensors(output)
        if outs:
            record = self.calls[index]
            record.output_shape = list(outs[0].shape)
            record.field = self.info.get(outs[0])

    # -- ops -----------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        key = self._keys.get(func)
        if key is None:
            key = self._keys[func] = counters.op_name(func)
        if key in ("convolution", "_convolution"):
            self._check_conv(args)
        args, kwargs = self._to_meta(args, kwargs)
        out = func(*args, **kwargs)
        record = self.calls[self.stack[-1]]
        outs = _tensors(out)
        record.ops[key] += 1
        cost = counters.count(key, args, kwargs, outs) if outs else (0, 0)
        if cost is None:
            record.uncounted[key] += 1
        else:
            record.macs += cost[0]
            record.other_flops += cost[1]
            if key in ("convolution", "_convolution") and all(k == 1 for k in args[1].shape[2:]):
                record.pointwise_macs += cost[0]
                for tensor in (args[1], args[2]):
                    pname = self.param_ids.get(id(tensor)) if tensor is not None else None
                    if pname is not None:
                        self.pointwise_params.add(pname)
        if outs:
            self._follow(key, args, outs, record)
        return out

    @staticmethod
    def _to_meta(args, kwargs):
        """Keep everything on meta: tensors the forward creates on the CPU (torch.arange(n),
        torch.tensor([...])) become meta tensors of the same shape; their values are never needed."""
        device = kwargs.get("device")
        if device is not None and torch.device(device).type != "meta":
            kwargs = {**kwargs, "device": torch.device("meta")}
        if any(isinstance(a, torch.Tensor) and a.device.type != "meta" and a.dim() > 0 for a in args):
            args = tuple(
                torch.empty_like(a, device="meta") if isinstance(a, torch.Tensor) and a.dim() > 0 else a
                for a in args
            )
        return args, kwargs

    def _follow(self, key: str, args, outs: list[torch.Tensor], record: CallRecord) -> None:
        """Receptive field and memory bookkeeping for the outputs of one op."""
        fields, first_shape = [], None
        for tensor in _tensors(args):
            fld = self.info.get(tensor)
            if fld is not None:
                fields.append(fld)
                if first_shape is None:
                    first_shape = tuple(tensor.shape)
        new_field = None
        if fields and key not in INPUT_FREE_OPS:
            merged, warning = receptive.merge(fields)
            if warning:
                self._warn(f"{_where(record)} ({key}): {warning}")
            new_field, warning = receptive.propagate(key, args, merged, first_shape, tuple(outs[0].shape))
            if warning:
                self._warn(f"{_where(record)}: {warning}")
        for tensor in outs:
            if tensor in self.info:  # in-place op: same tensor, new field
                self.info[tensor] = new_field
            else:
                record.activation_bytes += self.track(tensor, new_field)
        if self.live_bytes > self.peak_bytes:
            self.peak_bytes = self.live_bytes

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def _check_conv(self, args) -> None:
        x, weight = args[0], args[1]
        transposed = bool(args[6]) if len(args) > 6 else False
        groups = int(args[8]) if len(args) > 8 else 1
        expected = weight.shape[0] if transposed else weight.shape[1] * groups
        if x.dim() >= 2 and x.shape[1] != expected:
            record = self.calls[self.stack[-1]]
            raise ProfileError(
                f"wrong input channels: {_where(record)} expects {expected} channels, "
                f"got input {shape_text(x.shape)}",
                module_path=record.path,
                input_shapes=[list(x.shape)],
            )


def _where(record: CallRecord) -> str:
    return f"{record.path or '(model)'} ({record.type})"


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        found = []
        for item in value:
            if isinstance(item, torch.Tensor):
                found.append(item)
            elif isinstance(item, (list, tuple)):
                found.extend(t for t in item if isinstance(t, torch.Tensor))
        return found
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, torch.Tensor)]
    return []


def explain_failure(tracer: Tracer, exc: Exception, input_shapes) -> ProfileError:
    """Turn an exception raised inside the traced forward into a one-line ProfileError."""
    record = tracer.calls[tracer.stack[-1]] if tracer.stack else None
    where = _where(record) if record else "the model"
    at_shapes = ", ".join(shape_text(s) for s in record.input_shapes) if record else ""
    given = ", ".join(shape_text(s) for s in input_shapes)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    if "too small" in lowered or "greater than actual input size" in lowered:
        message = (
            f"input {given} is too small: at {where} the input {at_shapes} leaves no output "
            f"positions ({text})"
        )
    elif "channel" in lowered and record is not None:
        message = f"wrong input channels for input {given}: at {where} with input {at_shapes}: {text}"
    else:
        message = f"the model raised {type(exc).__name__} at {where} with input {at_shapes or given}: {text}"
    return ProfileError(
        message,
        module_path=record.path if record else None,
        input_shapes=record.input_shapes if record else [list(s) for s in input_shapes],
    )
