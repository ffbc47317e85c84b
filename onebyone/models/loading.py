"""Resolve a model specification from the command line or a script into an nn.Module.

A specification is a zoo name (`resnet50`), a file and factory (`path/to/net.py:build`), or a
module and factory (`mypkg.nets:build`). Overrides come as `key=value` strings and are parsed
as Python literals, so `num_classes=10`, `naive=true` and `head=fc` all do what they say.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.registry import create_model, get_model_entry


def parse_overrides(items: list[str] | None) -> dict[str, object]:
    """['num_classes=10', 'naive=true', 'head=fc'] -> {'num_classes': 10, 'naive': True, 'head': 'fc'}."""
    overrides: dict[str, object] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise OneByOneError(f"bad override {item!r}; expected key=value, e.g. num_classes=10")
        overrides[key.strip()] = _parse_value(raw.strip())
    return overrides


def _parse_value(raw: str) -> object:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw  # a bare word is a string: head=fc


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'3x224x224' (C×H×W) or '8x3x224x224' (N×C×H×W); commas also separate."""
    parts = text.replace(",", "x").replace("×", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) not in (3, 4) or any(d <= 0 for d in dims):
        raise OneByOneError(f"bad input shape {text!r}; expected CxHxW or NxCxHxW with positive sizes")
    return dims


def load_model(spec: str, overrides: dict[str, object] | None = None) -> nn.Module:
    """Build the model named by `spec` (zoo name, file.py:factory or module:factory)."""
    overrides = overrides or {}
    if ":" in spec:
        factory = _load_factory(spec)
        try:
            model = factory(**overrides)
        except TypeError as exc:
            raise OneByOneError(f"{spec}: {exc}") from exc
        if not isinstance(model, nn.Module):
            raise OneByOneError(f"{spec} returned {type(model).__name__}, not an nn.Module")
        return model
    return create_model(spec, **overrides)


def default_input_size(spec: str) -> tuple[int, int, int] | None:
    """The (C, H, W) a zoo model was designed for; None for user code, which must say."""
    if ":" in spec:
        return None
    return get_model_entry(spec).input_size


def model_input_size(spec: str, model: nn.Module) -> tuple[int, int, int] | None:
    """The (C, H, W) the built `model` of `spec` takes: the design size, with the channels of an
    `in_channels` override; None for user code, which must say."""
    size = default_input_size(spec)
    channels = getattr(model, "in_channels", None)
    if size is not None and isinstance(channels, int):
        size = (channels, *size[1:])
    return size


def _load_factory(spec: str):
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise OneByOneError(f"bad model {spec!r}; expected path/to/file.py:factory or package.module:factory")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise OneByOneError(f"model file {target!r} not found")
        module_name = f"_onebyone_user_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise OneByOneError(f"importing {target} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise OneByOneError(f"cannot import module {target!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise OneByOneError(f"{target} has no callable {attr!r}")
    return factory
