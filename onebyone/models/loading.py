"""Build the model a specification names: a zoo name (`resnet50`), a file and factory
(`path/to/net.py:build`), or a module and factory (`mypkg.nets:build`).

User code runs only here, and only when a caller passes such a spec: a run folder that records one
is opened with the user's consent (see `onebyone.runs`). Options are checked as plain data first.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.options import check_options
from onebyone.models.registry import create_model, get_model_entry


def load_model(spec: str, overrides: dict[str, object] | None = None) -> nn.Module:
    """Build the model named by `spec` (zoo name, file.py:factory or module:factory)."""
    overrides = overrides or {}
    if is_user_code(spec):
        factory = _load_factory(spec)
        check_options(spec, factory, overrides)
        try:
            model = factory(**overrides)
        except TypeError as exc:
            raise OneByOneError(f"{spec}: {exc}") from exc
        except (Exception, SystemExit) as exc:  # the user's code failed: say so, in one line
            raise OneByOneError(f"building {spec} failed: {one_line(exc)}") from exc
        if not isinstance(model, nn.Module):
            raise OneByOneError(f"{spec} returned {type(model).__name__}, not an nn.Module")
        return model
    return create_model(spec, **overrides)


def is_user_code(spec: str) -> bool:
    """Whether `spec` names user code (`file.py:factory`, `module:factory`) rather than a zoo model."""
    return ":" in spec


def resolved_spec(spec: str) -> str:
    """`file.py:factory` with the file's absolute path (when the file is there), so that a run folder
    recording it opens from any working directory; any other spec as it is."""
    target, colon, attr = spec.rpartition(":")
    if colon and target.endswith(".py") and Path(target).is_file():
        return f"{Path(target).resolve()}:{attr}"
    return spec


def missing_code_file(spec: str) -> str | None:
    """The file a `file.py:factory` spec names when it is not there; None otherwise."""
    target, colon, _ = spec.rpartition(":")
    return target if colon and target.endswith(".py") and not Path(target).is_file() else None


def one_line(exc: BaseException) -> str:
    """'TypeName: first line of the message', for a one-line error about someone else's code."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def default_input_size(spec: str) -> tuple[int, int, int] | None:
    """The (C, H, W) a zoo model was designed for; None for user code, which must say."""
    if is_user_code(spec):
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
        if module_spec is None or module_spec.loader is None:  # a .py path always has a loader
            raise OneByOneError(f"cannot import {target}: no loader for it")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            raise OneByOneError(f"importing {target} failed: {one_line(exc)}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise OneByOneError(f"cannot import module {target!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise OneByOneError(f"{target} has no callable {attr!r}")
    return factory
