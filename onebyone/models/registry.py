"""Model registry: every zoo model is a named builder with typed keyword arguments.

`create_model("resnet50", num_classes=10)` validates the overrides against the builder's
signature, so a typo fails at once with the list of valid options instead of deep inside.
The registry imports no family: Python imports the package `onebyone.models` before this module,
and the package imports every family module, each registering its builders.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.options import check_options
from onebyone.models.size import check_model_size


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder, the input it was designed for and, for a model with published
    weights, how to feed it a photo and read its outputs."""

    name: str
    builder: Callable[..., nn.Module]
    input_size: tuple[int, int, int]  # (C, H, W) of the original definition
    description: str
    mean: tuple[float, ...] | None = None  # per-channel input mean, pixel units in [0, 1]
    std: tuple[float, ...] | None = None  # per-channel input standard deviation, same units
    classes: str | None = None  # name of the class list its outputs index (onebyone.data.class_names)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    input_size: tuple[int, int, int],
    description: str,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    classes: str | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that adds a builder to the zoo under `name` (see `ModelEntry` for the fields)."""

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} registered twice")
        channels, height, width = input_size
        _REGISTRY[name] = ModelEntry(
            name,
            builder,
            (channels, height, width),
            description,
            mean=None if mean is None else tuple(mean),
            std=None if std is None else tuple(std),
            classes=classes,
        )
        return builder

    return add


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry for `name`; an unknown name raises with close matches."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise OneByOneError(f"unknown model {name!r}{hint} (see `onebyone models`)")
    return _REGISTRY[name]


def model_options(name: str) -> dict[str, inspect.Parameter]:
    """The keyword options a model's builder accepts, with their defaults and annotations."""
    builder = get_model_entry(name).builder
    return {
        p.name: p
        for p in inspect.signature(builder).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def create_model(name: str, **overrides: object) -> nn.Module:
    """Build the zoo model `name`, with keyword overrides checked against its builder."""
    entry = get_model_entry(name)
    options = model_options(name)
    unknown = sorted(set(overrides) - set(options))
    if unknown:
        raise OneByOneError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(options) or 'none'}"
        )
    check_options(name, entry.builder, overrides)
    check_model_size(name, entry.builder, overrides)  # on the meta device, before any real allocation
    return entry.builder(**overrides)
