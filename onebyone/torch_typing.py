"""Typed forms of the few torch calls and attributes whose stubs say less than torch does.

torch's stubs type a Conv2d's `kernel_size`, `stride`, `padding` and `dilation` as `tuple[int, ...]`
(shared with Conv1d and Conv3d) while its constructor asks for pairs, and `Module.to` has no
`memory_format` keyword. These helpers state what is true at run time once, so the callers stay
checked by mypy instead of silencing it line by line.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def pair(value: tuple[int, ...]) -> tuple[int, int]:
    """A Conv2d's kernel_size, stride or dilation: the (height, width) pair it always is."""
    height, width = value
    return height, width


def padding_pair(value: str | tuple[int, ...]) -> str | tuple[int, int]:
    """A Conv2d's padding: "same" / "valid", or its (height, width) pair."""
    return value if isinstance(value, str) else pair(value)


def to_memory_format(
    module: M, memory_format: torch.memory_format, device: torch.device | str | None = None
) -> M:
    """`module.to(device, memory_format=memory_format)`: moves its tensors in place and returns it."""
    return module.to(device, memory_format=memory_format)  # type: ignore[call-overload]  # not in the stubs
