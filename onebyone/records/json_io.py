"""JSON in and out: never a bare NaN or Infinity written, never an unbounded file read.

Python's `json` writes float('nan') as `NaN`, which no JSON parser but Python's accepts, and reads
`NaN`/`Infinity` back; it also recurses once per nesting level, so a file of 100,000 `[` raises
RecursionError. Here a non-finite number is written as null (the documented meaning: "not a finite
number"; a measurement that came out NaN is reported as not measured, not as a number), and reading
refuses NaN and Infinity, files over `MAX_JSON_BYTES` and nesting deeper than `MAX_DEPTH`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from onebyone.errors import OneByOneError

MAX_JSON_BYTES = 64 * 2**20  # far above any record onebyone writes (a prototxt copy is ~100 KB)
MAX_DEPTH = 32  # onebyone's deepest record nests 6 levels


def finite_or_none(value: object) -> object:
    """`value` with every float that is not finite replaced by None (dicts, lists, tuples walked)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def json_text(value: object, *, indent: int | None = 2, **options) -> str:
    """JSON for `value`, non-finite numbers as null; `allow_nan=False` guarantees no bare NaN slips out."""
    return json.dumps(finite_or_none(value), indent=indent, allow_nan=False, **options)


def same_json(first: object, second: object) -> bool:
    """Whether two values are the same JSON: True is not 1 (as it is to Python's ==), a tuple is its list."""
    return json_text(first, indent=None, sort_keys=True) == json_text(second, indent=None, sort_keys=True)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(value: object) -> int:
    """Nesting depth of parsed JSON (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: str, where: str) -> object:
    """Parse `text`; anything but bounded, finite JSON is one OneByOneError line starting with `where`."""
    if len(text) > MAX_JSON_BYTES:
        raise OneByOneError(f"{where} (over {MAX_JSON_BYTES // 2**20} MiB)")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise OneByOneError(f"{where} (nested more than {MAX_DEPTH} levels deep)") from None
    except ValueError as exc:
        raise OneByOneError(f"{where} ({exc})") from None
    if _depth(value) > MAX_DEPTH:
        raise OneByOneError(f"{where} (nested more than {MAX_DEPTH} levels deep)")
    return value


def read_json(path: str | Path, what: str) -> object:
    """The JSON in the file at `path`; any failure is "'PATH': unreadable WHAT (why)"."""
    path = Path(path)
    where = f"{str(path)!r}: unreadable {what}"
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise OneByOneError(f"{where} (over {MAX_JSON_BYTES // 2**20} MiB)")
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OneByOneError(f"{where} ({exc})") from None
    return parse_json(text, where)
