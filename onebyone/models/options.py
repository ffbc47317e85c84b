"""Model options are plain data, checked against the builder's annotations before it runs.

A zoo builder's keyword options (`width: float = 1.0`, `head: str = "gap"`, `dropout: float | None`)
may come from a command line or from a run folder's config.json. Either way they must be numbers,
strings, booleans or None (or lists/tuples of those) of the annotated type; anything else is refused
with one line naming the option, so a bad value never reaches the builder, and a config file can
never smuggle in an object.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable

from onebyone.errors import OneByOneError

_SCALARS = (bool, int, float, str, type(None))


def is_plain(value: object) -> bool:
    """A number, string, boolean or None, or a list/tuple of such values."""
    if isinstance(value, (list, tuple)):
        return all(is_plain(item) for item in value)
    return isinstance(value, _SCALARS)


def is_plain_mapping(value: object) -> bool:
    """A dict from identifier-like strings to plain values (a builder's keyword options)."""
    return isinstance(value, dict) and all(isinstance(k, str) and is_plain(v) for k, v in value.items())


def value_fits(value: object, hint: object) -> bool:
    """Whether `value` is plain data of the type `hint` (an annotation: int, float | None, Literal…)."""
    origin = typing.get_origin(hint)
    if hint is typing.Any or hint is object:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(value_fits(value, member) for member in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (tuple, list) or hint in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return not args or all(value_fits(item, args[0] if len(args) == 1 else object) for item in value)
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    return True  # an annotation this check does not know: is_plain already holds


def _describe(hint: object) -> str:
    text = str(hint) if not isinstance(hint, type) else hint.__name__
    return text.replace("typing.", "").replace("NoneType", "None")


def check_options(model: str, builder: Callable, options: dict[str, object]) -> None:
    """Raise OneByOneError unless every option is plain data of the type `builder` declares for it."""
    try:
        hints = typing.get_type_hints(builder)
    except Exception:  # an annotation that cannot be resolved: check plainness only
        hints = {}
    for name, value in options.items():
        if not is_plain(value):
            raise OneByOneError(
                f"model {model!r} option {name}={value!r}: options must be numbers, strings, booleans or None"
            )
        hint = hints.get(name)
        if hint is not None and not value_fits(value, hint):
            raise OneByOneError(
                f"model {model!r} option {name} must be {_describe(hint)}, got {value!r} "
                f"({type(value).__name__})"
            )
