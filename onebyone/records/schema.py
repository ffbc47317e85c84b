"""What a JSON record may hold, as data: types, ranges, known names, sizes; and the check of a value.

A schema is built from a few specs (`Int(1, 2**20)`, `Float(0, 1)`, `Str(choices=("bgr", "rgb"))`,
`ListOf(Int(1, 64), 2, 2)`, `Obj({...})`) and `check(value, schema, where)` raises one OneByOneError
line naming the field by its path (`structure[0].layers[1].out_channels must be an integer from 1 to
65,536, got 1000000000`). Writers check what they are about to write and readers what they read, with
the same schema, so a file onebyone wrote always reads back and a damaged one never half-works.
No validation library is used: none is installed here, and these ~150 lines say exactly what is
checked (docs/robustness.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from onebyone.errors import OneByOneError

MAX_ITEMS = 100_000  # the longest list or object any record holds (a class list is 1,000 names)
MAX_TEXT = 16 * 2**20  # the longest string (a copied prototxt)


class SchemaError(OneByOneError):
    """A value that does not fit its schema: `path` names the field, the message says what it must be."""

    def __init__(self, path: str, expected: str, value: object) -> None:
        self.path, self.expected = path, expected
        super().__init__(f"{path or 'the record'} must be {expected}, got {_shown(value)}")


def _shown(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"a {len(str(abs(value)))}-digit number"
    if isinstance(value, (dict, list)):
        return f"{type(value).__name__} {value!r:.60}"
    return f"{value!r:.80}"


def _join(path: str, key: object) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)


class Spec:
    """One kind of value. `validate(value, path)` raises SchemaError; `expected` says what fits."""

    expected = "a value"

    def validate(self, value: object, path: str) -> None:
        raise NotImplementedError


class Int(Spec):
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.expected = f"an integer from {low:,} to {high:,}"

    def validate(self, value: object, path: str) -> None:
        if not (isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high):
            raise SchemaError(path, self.expected, value)


class Float(Spec):
    """A finite number (an int is a number too) in [low, high]; `low_open`: low itself excluded."""

    def __init__(self, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False) -> None:
        self.low, self.high, self.low_open = low, high, low_open
        bounds = []
        if low > -math.inf:
            bounds.append(f"{'>' if low_open else '≥'} {low:g}")
        if high < math.inf:
            bounds.append(f"≤ {high:g}")
        self.expected = "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")

    def validate(self, value: object, path: str) -> None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and self.low <= value <= self.high):
            raise SchemaError(path, self.expected, value)
        if self.low_open and value == self.low:
            raise SchemaError(path, self.expected, value)


class Str(Spec):
    def __init__(self, choices: tuple[str, ...] | None = None, *, max_length: int = MAX_TEXT) -> None:
        self.choices, self.max_length = choices, max_length
        self.expected = (
            f"one of {', '.join(choices)}" if choices else f"a string of at most {max_length:,} characters"
        )

    def validate(self, value: object, path: str) -> None:
        if not isinstance(value, str) or len(value) > self.max_length:
            raise SchemaError(path, self.expected, value)
        if self.choices is not None and value not in self.choices:
            raise SchemaError(path, self.expected, value)


class Bool(Spec):
    expected = "true or false"

    def validate(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            raise SchemaError(path, self.expected, value)


class Optional(Spec):
    """`spec`, or null."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.expected = f"{spec.expected} or null"

    def validate(self, value: object, path: str) -> None:
        if value is not None:
            try:
                self.spec.validate(value, path)
            except SchemaError as exc:
                if exc.path != path:
                    raise  # a field inside the value: its own message says more
                raise SchemaError(path, self.expected, value) from None


class Either(Spec):
    """The first of `specs` the value fits (e.g. a padding given as "same" or as [1, 1])."""

    def __init__(self, *specs: Spec) -> None:
        self.specs = specs
        self.expected = " or ".join(spec.expected for spec in specs)

    def validate(self, value: object, path: str) -> None:
        for spec in self.specs:
            try:
                spec.validate(value, path)
                return
            except SchemaError:
                continue
        raise SchemaError(path, self.expected, value)


class ListOf(Spec):
    def __init__(self, item: Spec, min_length: int = 0, max_length: int = MAX_ITEMS) -> None:
        self.item, self.min_length, self.max_length = item, min_length, max_length
        count = f"{min_length}" if min_length == max_length else f"{min_length} to {max_length:,}"
        self.expected = f"a list of {count} items, each {item.expected}"

    def validate(self, value: object, path: str) -> None:
        if not isinstance(value, list) or not self.min_length <= len(value) <= self.max_length:
            raise SchemaError(path, self.expected, value)
        for index, item in enumerate(value):
            self.item.validate(item, _join(path, index))


class MapOf(Spec):
    """An object with any string keys (at most `max_items`), each value `value`."""

    def __init__(self, value: Spec, max_items: int = MAX_ITEMS) -> None:
        self.value, self.max_items = value, max_items
        self.expected = f"an object of at most {max_items:,} fields, each {value.expected}"

    def validate(self, value: object, path: str) -> None:
        if not isinstance(value, dict) or len(value) > self.max_items:
            raise SchemaError(path, self.expected, value)
        for key, item in value.items():
            if not isinstance(key, str):
                raise SchemaError(path, "an object with string keys", value)
            self.value.validate(item, _join(path, key))


class Plain(Spec):
    """A JSON scalar (finite number, string, boolean, null) or a short list of them: a builder option."""

    expected = "a number, string, boolean or null, or a list of them"

    def __init__(self, max_length: int = 1024) -> None:
        self.max_length = max_length

    def validate(self, value: object, path: str) -> None:
        if isinstance(value, list) and len(value) <= self.max_length:
            for index, item in enumerate(value):
                self.validate(item, _join(path, index))
            return
        if value is None or isinstance(value, bool):
            return
        if isinstance(value, str) and len(value) <= MAX_TEXT:
            return
        if isinstance(value, (int, float)) and math.isfinite(value) and abs(value) < 2**63:
            return
        raise SchemaError(path, self.expected, value)


class Obj(Spec):
    """An object with `required` fields and maybe `optional` ones (absent or as given); with
    `extra`, other fields are allowed and checked as `extra` (else an unknown field is refused)."""

    def __init__(
        self, required: dict[str, Spec], optional: dict[str, Spec] | None = None, extra: Spec | None = None
    ) -> None:
        self.required, self.optional, self.extra = required, optional or {}, extra
        self.expected = "an object"

    def validate(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(path, self.expected, value)
        for name, spec in self.required.items():
            if name not in value:
                raise OneByOneError(f"{_join(path, name)} is missing")
            spec.validate(value[name], _join(path, name))
        for name, item in value.items():
            if name in self.required:
                continue
            spec = self.optional.get(name, self.extra)
            if spec is None:
                known = ", ".join([*self.required, *self.optional])
                raise OneByOneError(
                    f"{path or 'the record'} has an unknown field {name!r:.60} (known: {known})"
                )
            spec.validate(item, _join(path, name))


class Tagged(Obj):
    """An object whose `tag` field (a name) picks its schema from `kinds`, so that the message names
    the fields of the right kind: a layer's "type", a factorisation's "method"."""

    def __init__(self, tag: str, kinds: dict[str, Obj]) -> None:
        super().__init__({tag: Str(tuple(kinds))})
        self.tag, self.kinds = tag, kinds

    def validate(self, value: object, path: str) -> None:
        super().validate({self.tag: value.get(self.tag)} if isinstance(value, dict) else value, path)
        assert isinstance(value, dict)  # the line above refused anything else
        self.kinds[value[self.tag]].validate(value, path)


def check(value: object, schema: Spec, where: str) -> object:
    """`value` if it fits `schema`; else OneByOneError "WHERE: FIELD must be …, got …"."""
    try:
        schema.validate(value, "")
    except OneByOneError as exc:
        raise OneByOneError(f"{where}: {exc}") from None
    return value


def check_version(
    record: object,
    current: int,
    where: str,
    upgrades: dict[int, Callable[[dict], dict]] | None = None,
) -> dict:
    """`record` (an object with "schema_version") at version `current`: a newer one is refused as
    written by a newer onebyone, an older one upgraded step by step through `upgrades[v]` (v → v+1)
    or refused by name when there is no way up."""
    if not isinstance(record, dict):
        raise OneByOneError(f"{where}: expected a JSON object, got {type(record).__name__}")
    version = record.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        what = (
            "has no schema_version"
            if version is None
            else f"schema_version {_shown(version)} is not an integer"
        )
        raise OneByOneError(f"{where}: {what} (not written by onebyone?)")
    if version > current:
        raise OneByOneError(
            f"{where}: written by a newer onebyone (schema version {_shown(version)}; this one reads up to "
            f"{current}): upgrade onebyone to read it"
        )
    upgrades = upgrades or {}
    while version < current:
        if version not in upgrades:
            raise OneByOneError(
                f"{where}: schema version {version} is not one this onebyone reads (it reads {current}"
                + (f" and upgrades {', '.join(map(str, sorted(upgrades)))}" if upgrades else "")
                + ")"
            )
        record = {**upgrades[version](record), "schema_version": version + 1}
        version += 1
    return record
