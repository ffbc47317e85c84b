"""onebyone: make the 1x1 convolution measurable.

Build blocks and the zoo (`create_model`, `list_models`), measure any `nn.Module`
(`profile`), train on real data, inspect and change trained models.
"""

__version__ = "0.1.0"

from onebyone.errors import OneByOneError
from onebyone.models.registry import create_model, list_models

__all__ = ["OneByOneError", "create_model", "list_models", "__version__"]
