"""Floating-point dtypes by `torch.dtype` or by name: every public function that takes a dtype
accepts both ("bfloat16", "torch.bfloat16" or torch.bfloat16)."""

from __future__ import annotations

import torch

from onebyone.errors import OneByOneError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """torch.float32 | torch.bfloat16 | torch.float16, or its name ("bfloat16", "torch.bfloat16"),
    to the torch dtype, with a clear error otherwise."""
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise OneByOneError(f"unsupported dtype {dtype}; expected one of {', '.join(_DTYPES)}")
        return dtype
    name = dtype.removeprefix("torch.") if isinstance(dtype, str) else None
    if name not in _DTYPES:
        raise OneByOneError(f"unknown dtype {dtype!r}; expected one of {', '.join(_DTYPES)}")
    return _DTYPES[name]


def dtype_name(dtype: str | torch.dtype) -> str:
    """The name of a supported dtype: "bfloat16" for torch.bfloat16 or "torch.bfloat16"."""
    return str(parse_dtype(dtype)).removeprefix("torch.")
