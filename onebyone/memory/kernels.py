"""What CPU kernels allocate inside one op, which no meta or fake kernel shows.

PyTorch runs CPU convolutions through oneDNN. On channels-first (NCHW) float32 tensors oneDNN
works in a blocked layout (channels in blocks of 16 with AVX-512, 8 without): it copies the
input into blocks, computes the output in blocks and copies it back into the NCHW output. An
input with fewer than 8 channels (an image) is read as it is. The copies live only during the
op, but at a peak they count: an EfficientNet's padded depthwise input is copied whole. Read
from the CPU allocator's own reports (benchmarks/memory_accuracy.py, docs/memory.md):

- forward: input copy + blocked output, then blocked output + the output;
- backward: blocked grad_output + blocked grad_input, then blocked grad_input + grad_input, then
  grad_input + blocked grad_output + input copy + grad_weight (for the weight's gradient).

Channels-last tensors are oneDNN's own layout and need no copies (measured likewise); other
dtypes and transposed convolutions are left as the fake kernels say.
"""

from __future__ import annotations

import math

import torch

PLAIN_INPUT_CHANNELS = 8  # fewer input channels than this: oneDNN reads NCHW as it is


def _block() -> int:
    capability = torch.backends.cpu.get_cpu_capability()
    return 16 if "AVX512" in capability or "AMX" in capability else 8


def _blocked(tensor: torch.Tensor, block: int) -> int:
    """Bytes of `tensor` (N, C, H, W) with its channels padded to a multiple of `block`."""
    n, c, *rest = tensor.shape
    return n * (math.ceil(c / block) * block) * math.prod(rest) * tensor.element_size()


def _copied(tensor: torch.Tensor) -> bool:
    """Does oneDNN copy this NCHW float32 tensor into its blocked layout?"""
    return (
        tensor.dim() == 4
        and tensor.dtype == torch.float32
        and tensor.is_contiguous()
        and not tensor.is_contiguous(memory_format=torch.channels_last)
    )


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def cpu_workspace(name: str, args, out) -> int:
    """The most bytes op `name` has live at once beyond its inputs, outputs included (0: no rule)."""
    if name == "convolution":
        x, transposed = args[0], bool(args[6])
        if transposed or not _copied(x) or not isinstance(out, torch.Tensor):
            return 0
        block = _block()
        x_copy = _blocked(x, block) if x.shape[1] >= PLAIN_INPUT_CHANNELS else 0
        out_blocked = _blocked(out, block)
        return max(x_copy + out_blocked, out_blocked + _nbytes(out))
    if name == "convolution_backward":
        grad_out, x, transposed, mask = args[0], args[1], bool(args[7]), args[10]
        if transposed or not _copied(x) or not _copied(grad_out):
            return 0
        block = _block()
        grad_out_blocked = _blocked(grad_out, block)
        x_copy = _blocked(x, block) if x.shape[1] >= PLAIN_INPUT_CHANNELS else 0
        grad_x = _nbytes(x) if mask[0] else 0
        grad_x_blocked = _blocked(x, block) if mask[0] else 0
        grad_w = _nbytes(args[2]) if mask[1] else 0
        moments = [grad_out_blocked + grad_x_blocked, grad_x_blocked + grad_x]
        if mask[1]:
            moments.append(grad_x + grad_out_blocked + x_copy + grad_w)
        return max(moments)
    return 0
