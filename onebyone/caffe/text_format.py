"""The protobuf *text* format, read without a schema: `name: value` and `name { ... }` into `Message`s.

A .prototxt file is a NetParameter in this format. The reader knows no field of caffe.proto: it gives
each message its fields in file order, each scalar as the Python value its spelling denotes (a quoted
string is `str`, `12` is `int`, `1e-4` is `float`, an identifier such as `MAX` or `true` is a `Name`),
and `onebyone.caffe.fields` gives them their types. Accepted spellings are those of protobuf's own text
parser: `#` comments, `name: { }` and `name < >`, `[a, b]` lists of scalars, separators `,` or `;`,
single- or double-quoted strings with C escapes and adjacent strings joined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NoReturn

from onebyone.errors import OneByOneError

# One token: whitespace and comments are skipped; a string; a number; an identifier; punctuation.
_TOKEN = re.compile(
    r"""(?P<space>(?:\s+|\#[^\n]*)+)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?)(?![\w.]))
    | (?P<name>-?[A-Za-z_][\w.]*)
    | (?P<punct>[{}<>:\[\],;])""",
    re.VERBOSE,
)
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_SPECIAL_FLOATS = {
    "inf": float("inf"),
    "infinity": float("inf"),
    "-inf": float("-inf"),
    "-infinity": float("-inf"),
    "nan": float("nan"),
    "-nan": float("nan"),
}


class Name(str):
    """An unquoted identifier value: an enum constant (`MAX`), `true`/`false`, `inf`."""


Scalar = str | int | float


@dataclass
class Message:
    """One message: its fields in file order (a field repeats by appearing again) and its line."""

    line: int = 0
    fields: list[tuple[str, object]] = field(default_factory=list)

    def names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.fields))

    def all(self, name: str) -> list:
        """Every value of field `name`, in order ([] when absent)."""
        return [value for key, value in self.fields if key == name]

    def last(self, name: str, default: object = None) -> object:
        """The last value of `name` (protobuf's rule for a non-repeated field given twice)."""
        values = self.all(name)
        return values[-1] if values else default

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self.fields)


MAX_DEPTH = 100  # caffe.proto's deepest message nests 4 levels


def parse_text(text: str, source: str = "<text>") -> Message:
    """The top-level message of `text`; malformed text is one OneByOneError naming `source` and the line."""
    return _Parser(text, source).parse()


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, line)
        line, position = 1, 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                self.fail(line, f"unexpected character {text[position]!r}")
            kind = match.lastgroup or ""  # every alternative of _TOKEN is a named group
            if kind != "space":
                self.tokens.append((kind, match.group(), line))
            line += match.group().count("\n")
            position = match.end()
        self.index = 0
        self.end_line = line
        self.depth = 0

    def fail(self, line: int, what: str) -> NoReturn:
        raise OneByOneError(f"{self.source}: line {line}: {what}")

    def peek(self) -> tuple[str, str, int]:
        if self.index < len(self.tokens):
            return self.tokens[self.index]
        return ("end", "", self.end_line)

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        self.index += 1
        return token

    def parse(self) -> Message:
        message = self.fields(Message(line=1), closing=None)
        return message

    def fields(self, message: Message, closing: str | None) -> Message:
        while True:
            kind, text, line = self.peek()
            if kind == "end":
                if closing is not None:
                    self.fail(line, f"missing {closing!r} to close the message opened at line {message.line}")
                return message
            if kind == "punct" and text == closing:
                self.take()
                return message
            if kind != "name":
                self.fail(line, f"expected a field name, got {text!r}")
            self.take()
            message.fields.append((text, self.value(text, line)))
            if self.peek()[0] == "punct" and self.peek()[1] in ",;":
                self.take()

    def value(self, name: str, line: int) -> object:
        kind, text, _ = self.peek()
        colon = kind == "punct" and text == ":"
        if colon:
            self.take()
            kind, text, line = self.peek()
        if kind == "punct" and text in "{<":
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:  # protobuf's own parser stops at 100 levels too
                self.fail(line, f"messages nested more than {MAX_DEPTH} levels deep")
            message = self.fields(Message(line=line), closing="}" if text == "{" else ">")
            self.depth -= 1
            return message
        if not colon:
            self.fail(line, f"expected ':' or '{{' after {name!r}, got {text!r}")
        if kind == "punct" and text == "[":
            self.take()
            return self.scalar_list(name, line)
        return self.scalar(name)

    def scalar_list(self, name: str, line: int) -> list:
        values: list = []
        while True:
            kind, text, _ = self.peek()
            if kind == "punct" and text == "]":
                self.take()
                return values
            if kind == "punct" and text in "{<":
                self.take()
                values.append(self.fields(Message(line=line), closing="}" if text == "{" else ">"))
            else:
                values.append(self.scalar(name))
            kind, text, line = self.peek()
            if kind == "punct" and text == ",":
                self.take()
            elif not (kind == "punct" and text == "]"):
                self.fail(line, f"expected ',' or ']' in the list of {name!r}, got {text!r}")

    def scalar(self, name: str) -> Scalar:
        kind, text, line = self.take()
        if kind == "string":
            parts = [_unquote(text)]
            while self.peek()[0] == "string":  # "a" "b" is "ab"
                parts.append(_unquote(self.take()[1]))
            return "".join(parts)
        if kind == "number":
            return _number(text)
        if kind == "name":
            special = _SPECIAL_FLOATS.get(text.lower())
            return special if special is not None else Name(text)
        what = f"expected a value for {name!r}, got {text!r}" if text else f"the file ends after {name!r}"
        self.fail(line, what)


def _number(text: str) -> int | float:
    body = text.rstrip("fF") if not text.lower().startswith(("0x", "-0x", "+0x")) else text
    if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", body):
        return int(body, 16)
    if re.fullmatch(r"[-+]?\d+", body):
        return int(body)
    return float(body)


def _unquote(text: str) -> str:
    body, out, index = text[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            index += 2
        elif code in "xX" and (hexadecimal := re.match(r"[0-9a-fA-F]{1,2}", body[index + 2 :])):
            digits = hexadecimal.group()
            out.append(chr(int(digits, 16)))
            index += 2 + len(digits)
        else:
            octal = re.match(r"[0-7]{1,3}", body[index + 1 :])
            if octal is None:
                out.append(code)
                index += 2
            else:
                out.append(chr(int(octal.group(), 8)))
                index += 1 + len(octal.group())
    return "".join(out)
