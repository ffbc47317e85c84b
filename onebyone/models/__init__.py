"""The model zoo: one family per module, each registering its builders on import."""

from onebyone.models import alexnet, efficientnet, googlenet, nin, resnet  # noqa: F401  (registers the zoo)
from onebyone.models.registry import create_model, get_model_entry, list_models, register_model

__all__ = ["create_model", "get_model_entry", "list_models", "register_model"]
