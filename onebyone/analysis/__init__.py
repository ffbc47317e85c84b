"""Measure any nn.Module without running it: per-layer cost, memory and receptive field.

`profile(model, input_shape=(1, 3, 224, 224))` returns a `ProfileResult` (plain data, JSON via
`to_dict()`); `onebyone.analysis.render` turns it into a table, Markdown, CSV or JSON.
"""

from onebyone.analysis.capture import ProfileError
from onebyone.analysis.profiler import profile
from onebyone.analysis.receptive import AxisField, Field
from onebyone.analysis.results import SCHEMA_VERSION, LayerRow, ProfileResult

__all__ = ["SCHEMA_VERSION", "AxisField", "Field", "LayerRow", "ProfileError", "ProfileResult", "profile"]
