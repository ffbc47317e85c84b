"""Typed, checked access to a Caffe parameter message (`convolution_param { ... }`) read by text_format.

Each parameter message onebyone interprets has a schema: its field names (from caffe.proto) with a
kind. A field outside the schema is refused in one line naming the layer, since a setting onebyone
did not read (a rounding mode, an axis) could change what the layer computes; fields that cannot
change a forward pass at test time (fillers, engines, learning rates) are in the schema and ignored.
"""

from __future__ import annotations

import math

from onebyone.caffe.text_format import Message, Name
from onebyone.errors import OneByOneError

_TRUE = {"true", "True", "t", "1"}
_FALSE = {"false", "False", "f", "0"}


def schema(text: str) -> dict[str, str]:
    """'num_output:int pad:int* weight_filler:msg' → {field: kind}; `*` marks a repeated field."""
    return dict(item.split(":") for item in text.split())


class Params:
    """The fields of one parameter message of one layer, typed on access and checked against a schema.

    Kinds: int, uint, float, bool, str, enum (a Name or its number), msg (a sub-message); a trailing `*`
    means repeated. An absent message reads as empty, so every field takes its caffe.proto default.
    """

    def __init__(self, message: Message | None, fields: dict[str, str], where: str) -> None:
        self.message = message or Message()
        self.fields = fields
        self.where = where
        for name in self.message.names():
            if name not in fields:
                known = ", ".join(sorted(fields))
                raise OneByOneError(f"{where}: unknown field {name!r} (known: {known})")
            given = len(self.message.all(name))
            if given > 1 and not fields[name].endswith("*"):  # protobuf's text parser refuses it too
                raise OneByOneError(f"{where}: {name} is given {given} times; it takes one value")

    def has(self, name: str) -> bool:
        return name in self.message

    def one(self, name: str, default: object = None):
        """The field's value (the last one given), typed; `default` when absent."""
        self._check_name(name)
        values = self.message.all(name)
        return self._typed(name, values[-1]) if values else default

    def many(self, name: str) -> list:
        """Every value of a repeated field, typed."""
        self._check_name(name)
        out = []
        for value in self.message.all(name):
            out += [self._typed(name, v) for v in (value if isinstance(value, list) else [value])]
        return out

    def sub(self, name: str, fields: dict[str, str]) -> Params:
        """A sub-message field as Params of its own."""
        value = self.one(name)
        return Params(value, fields, f"{self.where}.{name}")

    def subs(self, name: str, fields: dict[str, str]) -> list[Params]:
        return [Params(value, fields, f"{self.where}.{name}") for value in self.many(name)]

    def _check_name(self, name: str) -> None:
        if name not in self.fields:
            raise KeyError(f"{name} is not in the schema of {self.where}")  # a bug in onebyone, not input

    def _typed(self, name: str, value: object):
        kind = self.fields[name].rstrip("*")
        bad = f"{self.where}: field {name!r} must be {_KIND_WORDS[kind]}, got {value!r:.40}"
        if kind == "msg":
            if not isinstance(value, Message):
                raise OneByOneError(bad)
            return value
        if isinstance(value, Message) or isinstance(value, list):
            raise OneByOneError(bad)
        if kind in ("int", "uint"):
            if isinstance(value, bool) or not isinstance(value, int) or (kind == "uint" and value < 0):
                raise OneByOneError(bad)
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise OneByOneError(bad)
            return float(value)
        if kind == "bool":
            text = str(value)
            if isinstance(value, (Name, int)) and text in _TRUE | _FALSE:
                return text in _TRUE
            raise OneByOneError(bad)
        if kind == "enum":
            if isinstance(value, (Name, int)) and not isinstance(value, bool):
                return value
            raise OneByOneError(bad)
        if kind == "str":
            if isinstance(value, str) and not isinstance(value, Name):
                return value
            raise OneByOneError(bad)
        raise KeyError(kind)


_KIND_WORDS = {
    "int": "an integer",
    "uint": "a non-negative integer",
    "float": "a number",
    "bool": "true or false",
    "enum": "a constant name",
    "str": "a quoted string",
    "msg": "a message { ... }",
}


def enum_value(params: Params, name: str, choices: dict[str, int], default: str) -> str:
    """The name of an enum field's value, given as its name or its number; unknown values refused."""
    value = params.one(name, default)
    by_number = {number: key for key, number in choices.items()}
    if isinstance(value, int) and value in by_number:
        return by_number[value]
    if isinstance(value, str) and value in choices:
        return str(value)
    raise OneByOneError(f"{params.where}: {name} must be one of {', '.join(choices)}, got {value!r}")
