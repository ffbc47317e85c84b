"""Run a model once on an input before the real work: size limits, one-line errors, what came back.

Every command that feeds a model an input (export, bench, convert, compress, inspect, predict) calls
into this module, so a model that cannot run on the input fails the same way everywhere: one
OneByOneError naming the model, the input shape and what went wrong (a shape or dtype error, a
forward that takes two inputs, an output that is a dict, a tuple or None), before any file is
written or any time is spent.

Sizes are checked before anything is allocated: no tensor side beyond MAX_SIDE, no input that does not
fit in the memory available, no large input whose forward pass (profiled on meta tensors first) does
not, and no batch whose memory — estimated from the forward pass at batch 1, where every layer's
input and output exist at once — exceeds it. The batch estimate is a lower bound, so it only refuses
work that certainly cannot fit.

The probe also records where the forward turns tensor values into Python values (`if x.sum() > 0:`,
`int(t)`, `t.item()`): in eager mode shapes are Python ints, so every such conversion depends on the
data, and a traced export (ONNX) keeps only the branch the example input took.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from onebyone.errors import OneByOneError
from onebyone.models.loading import one_line
from onebyone.profiling.capture import shape_text
from onebyone.profiling.render import format_bytes

MAX_SIDE = 1 << 20  # no tensor dimension beyond a million: such a shape is a typo, not an input
# Above this many input elements (3×1182×1182) the probe first asks the profiler, on meta tensors,
# how much activation memory the forward pass needs, before running it for real.
PROFILE_ABOVE = 1 << 22
# Tensor methods that hand a tensor's value to Python, where a trace can no longer follow it.
VALUE_CONVERSIONS = ("__bool__", "__int__", "__float__", "__index__", "item", "tolist")
_TORCH_DIR = os.path.dirname(torch.__file__)


def check_shape(shape: Sequence[int], what: str = "input shape") -> tuple[int, ...]:
    """`shape` as a tuple of ints, each from 1 to MAX_SIDE; anything else is one OneByOneError."""
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise OneByOneError(f"bad {what} {shape!r}; expected whole numbers") from None
    if not dims or not all(0 < d <= MAX_SIDE for d in dims):
        raise OneByOneError(f"bad {what} {shape_text(dims) or '()'}; sizes must be from 1 to {MAX_SIDE:,}")
    return dims


def available_memory(device: str | torch.device = "cpu") -> int | None:
    """Bytes this process could still allocate on `device` (None when the system does not say)."""
    if torch.device(device).type == "cuda":
        return int(torch.cuda.mem_get_info()[0]) if torch.cuda.is_available() else None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(nbytes: int, what: str, device: str | torch.device = "cpu") -> None:
    """Refuse `what` when it needs more than the memory available on `device`."""
    available = available_memory(device)
    if available is not None and nbytes > available:
        raise OneByOneError(
            f"{what} needs at least {format_bytes(nbytes)}; {format_bytes(available)} is available here"
        )


def check_input_shape(
    shape: Sequence[int], what: str = "input", dtype: torch.dtype = torch.float32
) -> tuple[int, ...]:
    """`check_shape`, then refuse a tensor of that shape that would not fit in memory."""
    dims = check_shape(shape, f"{what} shape")
    itemsize = torch.empty((), dtype=dtype).element_size()
    check_memory(math.prod(dims) * itemsize, f"{what} {shape_text(dims)} ({dtype_text(dtype)})")
    return dims


def dtype_text(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def describe_value(value: object) -> str:
    """What a forward returned, in words: 'a dict (keys: logits)', 'a tuple of 2 values', 'None'."""
    if value is None:
        return "None"
    if isinstance(value, Tensor):
        return f"a {shape_text(value.shape) or 'scalar'} tensor ({dtype_text(value.dtype)})"
    if isinstance(value, dict):
        keys = ", ".join(map(str, list(value)[:4])) + (", …" if len(value) > 4 else "")
        return f"a dict (keys: {keys})"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} values"
    return f"a {type(value).__name__}"


def model_name(model: nn.Module, name: str | None = None) -> str:
    return name or type(model).__name__


@contextmanager
def running(model: nn.Module, shape: Sequence[int], name: str | None = None) -> Iterator[None]:
    """Inside: code that runs `model` on an input of `shape`; any error it raises becomes one line."""
    try:
        yield
    except OneByOneError:
        raise
    except (Exception, SystemExit) as exc:  # the model's own code failed: say on what, in one line
        raise OneByOneError(
            f"{model_name(model, name)} does not run on input {shape_text(shape)}: {one_line(exc)}"
        ) from exc


def check_tensor(value: object, model: nn.Module, shape: Sequence[int], name: str | None = None) -> Tensor:
    """`value` when it is a tensor; otherwise one line saying what the model returned instead."""
    if not isinstance(value, Tensor):
        raise OneByOneError(
            f"{model_name(model, name)} returns {describe_value(value)} for input {shape_text(shape)}; "
            "expected one tensor (e.g. the class scores): wrap the model so forward returns it"
        )
    return value


def run_model(model: nn.Module, x: Tensor, name: str | None = None) -> Tensor:
    """`model(x)` as it is, with any failure or a non-tensor output as one OneByOneError."""
    with running(model, x.shape, name):
        output = model(x)
    return check_tensor(output, model, x.shape, name)


@dataclass
class Probe:
    """What one forward pass at batch 1 showed.

    Attributes:
        input_shape: the (1, C, H, W) shape it ran on.
        output_shape: the shape of the tensor the model returned (() for anything else).
        sample_bytes: bytes one input image needs at once at least: the largest sum of one layer's
            input and output tensors (and the model's own input and output).
        conversions: where the forward handed tensor values to Python ("net.py:8 (bool)"), in order.
    """

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    sample_bytes: int
    conversions: list[str] = field(default_factory=list)

    def check_batch(
        self, batch: int, what: str, device: str | torch.device = "cpu", area: tuple[int, int] | None = None
    ) -> None:
        """Refuse a forward pass at `batch` (and spatial size `area`, activations growing with the
        number of pixels) that cannot fit in memory."""
        scale = 1.0
        if area is not None and len(self.input_shape) == 4:
            scale = (area[0] * area[1]) / (self.input_shape[2] * self.input_shape[3])
        check_memory(int(batch * scale * self.sample_bytes), what, device)


class _ValueConversions(TorchFunctionMode):
    """Records each tensor-to-Python conversion with the first caller outside torch."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in VALUE_CONVERSIONS:
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename.startswith(_TORCH_DIR):
                frame = frame.f_back
            if frame is not None:
                where = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
                site = f"{where} ({name.strip('_')})"
                if site not in self.sites:
                    self.sites.append(site)
        return func(*args, **(kwargs or {}))


def _bytes(value: object) -> int:
    if isinstance(value, Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (list, tuple)):
        return sum(_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_bytes(v) for v in value.values())
    return 0


def check_forward_memory(model: nn.Module, shape: Sequence[int], name: str | None = None) -> None:
    """Refuse an input larger than PROFILE_ABOVE elements whose forward pass, profiled on meta tensors,
    needs more memory than there is (smaller inputs are not profiled: they run in moments)."""
    from onebyone.profiling.profiler import profile

    if math.prod(shape) <= PROFILE_ABOVE:
        return
    try:
        peak = profile(model, shape).peak_activation_bytes
    except Exception:  # the meta run does not go through: the real one will say why
        return
    check_memory(peak, f"{model_name(model, name)} on input {shape_text(shape)}")


def probe_forward(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    name: str | None = None,
    seed: int = 0,
    tensor_output: bool = True,
) -> Probe:
    """Run `model` (eval mode, no_grad; its flags are restored) once on a random input of
    `input_shape` (batch included) and return what it showed; one OneByOneError when the shape is
    absurd, the input does not fit in memory, the model fails on it or (unless `tensor_output` is
    False) returns anything but a tensor.
    """
    if not isinstance(model, nn.Module):
        raise OneByOneError(f"expected an nn.Module, got {describe_value(model)}")
    shape = check_input_shape(input_shape)
    check_forward_memory(model, shape, name)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    largest = 0

    def measure(module: nn.Module, args: tuple, output: object) -> None:
        nonlocal largest
        largest = max(largest, _bytes(args) + _bytes(output))

    modes = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(measure) for m in model.modules()]
    conversions = _ValueConversions()
    try:
        model.eval()
        with running(model, shape, name), torch.no_grad(), conversions:
            output = model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    if tensor_output:
        output = check_tensor(output, model, shape, name)
    sample = max(largest, _bytes(x) + _bytes(output)) // shape[0]
    output_shape = tuple(output.shape) if isinstance(output, Tensor) else ()
    return Probe(shape, output_shape, max(sample, 1), conversions.sites)
