"""onebyone: make the 1x1 convolution measurable.

Build blocks and the zoo (`create_model`, `list_models`), measure any `nn.Module`
(`profile`), train on real data, inspect and change trained models.
"""

__version__ = "0.1.0"

from onebyone.errors import OneByOneError
from onebyone.models.registry import create_model, list_models

__all__ = ["OneByOneError", "create_model", "list_models", "profile", "__version__"]


def __getattr__(name: str):
    # `onebyone.profile` is imported on first use, so `import onebyone` stays light.
    if name == "profile":
        from onebyone.profiling import profile

        return profile
    raise AttributeError(f"module 'onebyone' has no attribute {name!r}")
