"""A frozen TorchScript copy for CPU inference: batch norm folded, conv + ReLU fused by oneDNN.

In eager PyTorch every ReLU, batch norm and pooling layer is its own pass over memory; on a small
network at 28×28 those passes cost as much as the convolutions (measured on nin-fashion: about a
third of the time at batch 64). `torch.jit.freeze` turns the weights into constants and folds batch
norm into the conv before it; `torch.jit.optimize_for_inference` then lets oneDNN run a conv and
the ReLU after it as one kernel. The same pass applied to two models gives a fair comparison of
what their convolutions cost.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from onebyone.errors import OneByOneError


def freeze_for_cpu(model: nn.Module, input_shape: Sequence[int], *, channels_last: bool = True) -> nn.Module:
    """A traced, frozen and inference-optimised copy of `model` (eval mode) for inputs of `input_shape`.

    Args:
        model: any traceable nn.Module whose forward takes one tensor and has no data-dependent
            control flow (the trace records one path).
        input_shape: (N, C, H, W) of the example input the trace runs on; other batch sizes work.
        channels_last: trace on channels-last tensors (and lay the weights out so).

    Returns a torch.jit.ScriptModule that takes and returns float32 tensors. The original model is
    not changed. Raises OneByOneError when the model cannot be traced.
    """
    layout = torch.channels_last if channels_last else torch.contiguous_format
    example = torch.randn(*input_shape).contiguous(memory_format=layout)
    inference = copy.deepcopy(model).eval().to(memory_format=layout)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python values baked in
            traced = torch.jit.trace(inference, example, check_trace=False)
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    except Exception as exc:  # the tracer raises many kinds; one line naming the model is the useful part
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OneByOneError(f"cannot freeze {type(model).__name__} for CPU inference: {message}") from exc
    return frozen
