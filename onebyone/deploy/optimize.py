"""Make a trained model fast for inference: fold BN, merge branches, channels-last, lower precision, compile.

Each step is a measured choice (see benchmarks/inference.py): on CPU a 1×1 convolution is a
matrix product over pixels, and channels-last puts each pixel's channels next to each other,
so oneDNN runs it as one GEMM without reordering; bf16 doubles the matrix unit's throughput
where the CPU has AMX/AVX512-BF16.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from onebyone.deploy.fold import FoldResult, fold_batchnorm
from onebyone.deploy.reparam import ReparamResult, reparameterize
from onebyone.profiling.dtypes import dtype_name, parse_dtype


class CastIO(nn.Module):
    """Runs `model` in `dtype` and `memory_format`, taking and returning float32 tensors."""

    def __init__(self, model: nn.Module, dtype: torch.dtype, channels_last: bool) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.model(x.to(self.dtype))
        return out.float() if out.is_floating_point() else out


class Float32Island(nn.Module):
    """Runs `module` in float32 inside a model cast to a lower precision, for an op with no kernel in
    that precision: its input is cast up and its output back down."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.float()).to(x.dtype)

    def _apply(self, fn, recurse=True):
        """Moves (`.to(device)`, `.cuda()`) apply; a cast to another dtype (the model's `.to(bfloat16)`)
        moves without casting, so the island stays float32."""
        changed = fn(torch.zeros(1))  # what `fn` does to a float32 tensor
        if changed.dtype != torch.float32:
            return super()._apply(lambda t: t.to(changed.device), recurse)
        return super()._apply(fn, recurse)


# Modules whose ops have no bfloat16/float16 kernel in torch on CPU, kept in float32 by optimize():
# LocalResponseNorm (GoogLeNet's stem, Caffe's LRN) averages its squares with avg_pool3d.
FLOAT32_ONLY: dict[type[nn.Module], str] = {nn.LocalResponseNorm: "avg_pool3d"}


@dataclass
class OptimizeResult:
    """What optimize() did."""

    fold: FoldResult
    dtype: str
    channels_last: bool
    compiled: bool
    reparam: ReparamResult = field(default_factory=lambda: ReparamResult(method="off"))
    # modules left in float32 (FLOAT32_ONLY) in a lower-precision copy: path -> the op without a kernel
    float32_modules: dict[str, str] = field(default_factory=dict)

    def float32_note(self) -> str | None:
        """One sentence saying which modules stayed in float32 and why, or None."""
        if not self.float32_modules:
            return None
        names = ", ".join(self.float32_modules)
        ops = ", ".join(sorted(set(self.float32_modules.values())))
        return (
            f"{len(self.float32_modules)} module(s) run in float32 inside the {self.dtype} copy ({names}): "
            f"torch has no {self.dtype} kernel for {ops} on CPU"
        )


def keep_float32(model: nn.Module) -> dict[str, str]:
    """Wrap each FLOAT32_ONLY module of `model` (in place) in a Float32Island; path -> op, of those."""
    kept: dict[str, str] = {}
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            op = FLOAT32_ONLY.get(type(child))
            if op is not None:
                setattr(module, child_name, Float32Island(child))
                kept[f"{name}.{child_name}" if name else child_name] = op
    return kept


def optimize(
    model: nn.Module,
    *,
    dtype: str | torch.dtype = "float32",
    channels_last: bool = True,
    fold_bn: bool = True,
    reparam: bool = True,
    compile: bool = False,
    example_input: torch.Tensor | None = None,
) -> tuple[nn.Module, OptimizeResult]:
    """An inference copy of `model`: BN folded, branches re-parameterised, channels-last, in `dtype`,
    optionally compiled.

    The result is a standard nn.Module that takes and returns float32 tensors; the original
    model is not changed. `dtype` is a torch dtype or its name (float32, bfloat16, float16).
    `reparam` merges parallel and chained linear layers into single convs
    (`onebyone.deploy.reparam`); the report lists each merge and each candidate left alone.
    `example_input`, one input the model takes, lets a batch norm beside a Linear fold into it
    where it sees an (N, C) input (`onebyone.deploy.norm_linear`).
    """
    torch_dtype = parse_dtype(dtype)
    folded, fold_report = (
        fold_batchnorm(model, example_input)
        if fold_bn
        else (copy.deepcopy(model).eval(), FoldResult(method="off"))
    )
    reparam_report = ReparamResult(method="off")
    if reparam:
        folded, reparam_report = reparameterize(folded)
    kept = keep_float32(folded) if torch_dtype != torch.float32 else {}
    folded = folded.to(dtype=torch_dtype)
    if channels_last:
        folded = folded.to(memory_format=torch.channels_last)
    result: nn.Module = CastIO(folded, torch_dtype, channels_last).eval()
    if compile:
        result = torch.compile(result)
    return result, OptimizeResult(
        fold_report, dtype_name(torch_dtype), channels_last, compile, reparam_report, float32_modules=kept
    )
