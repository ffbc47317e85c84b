"""Measure any nn.Module without running it: per-layer cost and receptive field, on meta tensors.

`profile(model, input_shape=(1, 3, 224, 224))` returns a `ProfileResult` (plain data, JSON via
`to_dict()`); `onebyone.profiling.render` turns it into a table, Markdown, CSV or JSON. With
`memory=MemorySetup(...)` the result carries the predicted memory too (`onebyone.memory`).
"""

from onebyone.profiling.capture import ProfileError
from onebyone.profiling.profiler import profile
from onebyone.profiling.receptive import AxisField, Field
from onebyone.profiling.results import SCHEMA_VERSION, LayerRow, ProfileResult

__all__ = ["SCHEMA_VERSION", "AxisField", "Field", "LayerRow", "ProfileError", "ProfileResult", "profile"]
