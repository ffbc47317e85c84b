"""Measure any nn.Module without running it: per-layer cost, memory and receptive field.

`profile(model, input_shape=(1, 3, 224, 224))` returns a `ProfileResult` (plain data, JSON via
`to_dict()`); `onebyone.analysis.render` turns it into a table, Markdown, CSV or JSON.
`estimate_memory(model, (64, 3, 224, 224), MemorySetup("adamw", "bfloat16"))` predicts the peak
memory of inference and of a training step; `largest_batch` finds the batch that fits a budget.
"""

from onebyone.analysis.capture import ProfileError
from onebyone.analysis.memory import MemorySetup, estimate_memory
from onebyone.analysis.memory_fit import largest_batch
from onebyone.analysis.memory_results import BatchFit, MemoryResult, StepMemory
from onebyone.analysis.profiler import profile
from onebyone.analysis.receptive import AxisField, Field
from onebyone.analysis.results import SCHEMA_VERSION, LayerRow, ProfileResult

__all__ = [
    "SCHEMA_VERSION", "AxisField", "BatchFit", "Field", "LayerRow", "MemoryResult", "MemorySetup",
    "ProfileError", "ProfileResult", "StepMemory", "estimate_memory", "largest_batch", "profile",
]  # fmt: skip
