"""Inference benchmark: eager versus optimised latency, and each 1×1 conv against its matmul roofline.

A 1×1 convolution over an (N, C_in, H, W) map is the product of an (N·H·W × C_in) matrix with a
(C_in × C_out) one, so `torch.matmul` on those shapes, in the same precision, is the fastest that
layer can run on this machine. A layer far below that is losing time to layout or dispatch.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from onebyone.deploy.optimize import optimize
from onebyone.errors import OneByOneError
from onebyone.profiling.capture import shape_text
from onebyone.profiling.dtypes import dtype_name, parse_dtype
from onebyone.profiling.probe import Probe, probe_forward
from onebyone.timing import check_repeats, median_seconds, quartiles, sample_seconds

SCHEMA_VERSION = 1


@dataclass
class LatencyRow:
    variant: str  # "eager fp32 NCHW" or "optimised"
    batch: int
    median_ms: float
    images_per_s: float
    q1_ms: float = 0.0  # first and third quartiles of the repeats: q3_ms − q1_ms is the IQR
    q3_ms: float = 0.0

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms


@dataclass
class PointwiseRow:
    layer: str
    pixels: int  # N·H·W rows of the equivalent matrix product
    in_channels: int
    out_channels: int
    conv_gflops: float
    matmul_gflops: float

    @property
    def fraction(self) -> float:
        return self.conv_gflops / self.matmul_gflops


@dataclass
class BenchResult:
    model: str
    input_shape: tuple[int, int, int]
    dtype: str
    channels_last: bool
    threads: int
    device: str
    latency: list[LatencyRow] = field(default_factory=list)
    pointwise: list[PointwiseRow] = field(default_factory=list)
    reparam: bool = True  # whether the optimised copy had its branches merged (onebyone.deploy.reparam)
    warnings: list[str] = field(default_factory=list)  # e.g. modules the optimised copy kept in float32

    def speedup(self, batch: int) -> float:
        """Eager median time over optimised median time at `batch`."""
        times = {row.variant: row.median_ms for row in self.latency if row.batch == batch}
        return times["eager fp32 NCHW"] / times["optimised"]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        for row, raw in zip(self.pointwise, data["pointwise"], strict=True):
            raw["fraction"] = row.fraction
        for row, raw in zip(self.latency, data["latency"], strict=True):
            raw["iqr_ms"] = row.iqr_ms
        data["speedup"] = {str(b): self.speedup(b) for b in sorted({r.batch for r in self.latency})}
        return data


@torch.inference_mode()
def bench(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    name: str = "model",
    batch_sizes: tuple[int, ...] = (1, 64),
    dtype: str | torch.dtype = "bfloat16",
    channels_last: bool = True,
    repeats: int = 7,
    pointwise: bool = True,
    device: str = "cpu",
    reparam: bool = True,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Latency of eager fp32 NCHW vs `optimize(model, ...)` at each batch size, and 1×1 roofline rows.

    `dtype` is a torch dtype or its name (float32, bfloat16, float16); `reparam` passes on to optimize.
    """
    dtype = dtype_name(dtype)
    target, sync = _device(device)
    check_batches(probe_forward(model, (1, *input_shape), name=name), batch_sizes, repeats, name, device)
    if progress:
        progress(f"optimising a copy ({dtype}{', channels-last' if channels_last else ''})")
    example = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    fast, done = optimize(
        model, dtype=dtype, channels_last=channels_last, reparam=reparam, example_input=example
    )
    fast = fast.to(target)
    model = copy.deepcopy(model).eval().to(target)
    threads = torch.get_num_threads()
    result = BenchResult(name, tuple(input_shape), dtype, channels_last, threads, device, reparam=reparam)
    note = done.float32_note()
    if note:
        result.warnings.append(note)
    for batch in batch_sizes:
        x = torch.randn(batch, *input_shape, device=target)
        for variant, module in (("eager fp32 NCHW", model), ("optimised", fast)):
            if progress:
                progress(f"{variant}, batch {batch}")
            times = sample_seconds(lambda m=module, x=x: m(x), repeats=repeats, sync=sync)
            seconds, (first, third) = statistics.median(times), quartiles(times)
            result.latency.append(
                LatencyRow(variant, batch, seconds * 1e3, batch / seconds, first * 1e3, third * 1e3)
            )
    if pointwise:
        if progress:
            progress("1×1 convs against matmul")
        result.pointwise = pointwise_roofline(
            model,
            input_shape,
            batch=max(batch_sizes),
            dtype=dtype,
            channels_last=channels_last,
            repeats=repeats,
            device=device,
        )
    return result


def check_batches(
    probe: Probe, batch_sizes: tuple[int, ...], repeats: int, name: str, device: str = "cpu"
) -> None:
    """Before any timing: positive batch sizes whose activations fit in memory, a sane repeat count."""
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise OneByOneError(f"batch sizes must be positive, got {list(batch_sizes)}")
    check_repeats(repeats)
    largest = max(batch_sizes)  # the one that decides
    probe.check_batch(largest, f"{name} at batch {largest:,} of {shape_text(probe.input_shape[1:])}", device)


def _device(name: str) -> tuple[torch.device, Callable[[], object] | None]:
    """The torch device for `name` and how to wait for its queued work."""
    if name == "cpu":
        return torch.device("cpu"), None
    if name == "cuda":
        if not torch.cuda.is_available():
            raise OneByOneError("device cuda: no CUDA device is available here")
        return torch.device("cuda"), torch.cuda.synchronize
    raise OneByOneError(f"unknown device {name!r}; expected cpu or cuda")


def is_pointwise(module: nn.Module) -> bool:
    """A plain 1×1 convolution: kernel 1, stride 1, no padding, no groups."""
    return (
        isinstance(module, nn.Conv2d)
        and module.kernel_size == (1, 1)
        and module.stride == (1, 1)
        and module.padding in ((0, 0), "valid")
        and module.groups == 1
    )


@torch.inference_mode()
def pointwise_roofline(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    batch: int,
    dtype: str | torch.dtype = "bfloat16",
    channels_last: bool = True,
    repeats: int = 7,
    device: str = "cpu",
) -> list[PointwiseRow]:
    """Achieved GFLOP/s of every 1×1 conv next to torch.matmul on the same matrix shapes and dtype."""
    torch_dtype = parse_dtype(dtype)
    target, sync = _device(device)
    model = copy.deepcopy(model).eval().to(target)
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            shapes.setdefault(name, tuple(args[0].shape))

        return hook

    hooks = [
        module.register_forward_hook(record(name))
        for name, module in model.named_modules()
        if is_pointwise(module)
    ]
    try:
        model(torch.zeros(1, *input_shape, device=target))
    finally:
        for hook in hooks:
            hook.remove()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    rows = []
    for name, (_, c_in, height, width) in shapes.items():
        conv = model.get_submodule(name)
        layer = nn.Conv2d(c_in, conv.out_channels, 1, bias=conv.bias is not None)
        layer = layer.to(device=target, dtype=torch_dtype, memory_format=layout).eval()
        x = torch.randn(batch, c_in, height, width, dtype=torch_dtype, device=target)
        x = x.contiguous(memory_format=layout)
        pixels = batch * height * width
        a = torch.randn(pixels, c_in, dtype=torch_dtype, device=target)
        b = torch.randn(c_in, conv.out_channels, dtype=torch_dtype, device=target)
        flops = 2.0 * pixels * c_in * conv.out_channels
        # Best of the repeats: a speed limit is what the machine can do, and load only adds time.
        conv_s = median_seconds(lambda layer=layer, x=x: layer(x), repeats=repeats, statistic=min, sync=sync)
        matmul_s = median_seconds(
            lambda a=a, b=b: torch.matmul(a, b), repeats=repeats, statistic=min, sync=sync
        )
        rows.append(
            PointwiseRow(name, pixels, c_in, conv.out_channels, flops / conv_s / 1e9, flops / matmul_s / 1e9)
        )
    return rows
