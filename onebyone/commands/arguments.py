"""Command-line strings into values: `--set key=value` options, input shapes, `compare` variants.

Values are parsed as Python literals, so `num_classes=10`, `naive=true` and `head=fc` all do what
they say; anything malformed is one OneByOneError line.
"""

from __future__ import annotations

import ast
import shlex

from onebyone.errors import OneByOneError
from onebyone.profiling.probe import MAX_SIDE


def parse_overrides(items: list[str] | None) -> dict[str, object]:
    """['num_classes=10', 'naive=true', 'head=fc'] -> {'num_classes': 10, 'naive': True, 'head': 'fc'}."""
    overrides: dict[str, object] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise OneByOneError(f"bad override {item!r}; expected key=value, e.g. num_classes=10")
        if key.strip() in overrides:  # which one was meant? the last silently won before
            raise OneByOneError(
                f"option {key.strip()!r} is set twice ({item!r} after an earlier one); give it once"
            )
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
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        return raw  # a bare word is a string: head=fc


def _dims(text: str, separators: str) -> tuple[int, ...]:
    for separator in separators:
        text = text.replace(separator, ",")
    try:
        dims = tuple(int(p) for p in text.split(","))
    except ValueError:
        return ()
    return dims if all(0 < d <= MAX_SIDE for d in dims) else ()


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'3x224x224' (C×H×W) or '8x3x224x224' (N×C×H×W); commas also separate."""
    dims = _dims(text, "x×")
    if len(dims) not in (3, 4):
        raise OneByOneError(
            f"bad input shape {text!r}; expected CxHxW or NxCxHxW with sizes from 1 to {MAX_SIDE:,}"
        )
    return dims


def parse_full_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224' (the full input shape including the batch) -> (1, 3, 224, 224)."""
    dims = _dims(text, "x×")
    if len(dims) < 2:
        raise OneByOneError(
            f"bad input shape {text!r}; expected N,C,... with sizes from 1 to {MAX_SIDE:,}, e.g. 1,3,224,224"
        )
    return dims


def split_variant(text: str) -> tuple[str, list[str]]:
    """'googlenet naive=true' or 'googlenet --set naive=true' -> ('googlenet', ['naive=true'])."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:  # e.g. an unclosed quote
        raise OneByOneError(f"bad variant {text!r}: {exc}") from exc
    if not tokens:
        raise OneByOneError("empty model spec")
    overrides = [t for t in tokens[1:] if t != "--set"]
    for token in overrides:
        if "=" not in token:
            raise OneByOneError(f"bad variant {text!r}; expected MODEL [key=value ...]")
    return tokens[0], overrides


_BYTE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_bytes(text: str) -> int:
    """'24GiB' -> 25769803776; '16GB', '512MiB', '1.5TiB', '1000000B' likewise (GB = 10⁹, GiB = 2³⁰)."""
    raw = text.strip().replace(" ", "").lower()
    number = raw.rstrip("kmgtib")
    unit = raw[len(number) :] or "b"
    units = "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"
    try:
        value = float(number)
    except ValueError:
        value = None
    if value is None or unit not in _BYTE_UNITS or not (0 < value < 1e18):
        expected = f"expected a positive number with a unit ({units}), e.g. 24GiB"
        raise OneByOneError(f"bad memory size {text!r}; {expected}")
    size = int(value * _BYTE_UNITS[unit])
    if size < 1:
        raise OneByOneError(f"bad memory size {text!r}; it is less than one byte")
    return size
