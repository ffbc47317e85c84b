"""The protobuf binary wire format, read field by field from a buffer without copying payloads.

A message is a run of fields, each a varint key (field number << 3 | wire type) and a value: a varint
(type 0), 8 bytes (1), a length and that many bytes (2: strings, sub-messages, packed numbers) or
4 bytes (5). `fields(buffer, start, end)` yields each field with its value as an int, or as the
(start, end) span of its bytes, so a caller decides what to decode and what to read later. Anything
that runs past its end (a truncated file) is one OneByOneError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from onebyone.errors import OneByOneError

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Field:
    number: int
    wire_type: int
    value: int  # the varint itself (type 0); otherwise the start of the payload
    end: int  # the end of the payload (== value for varints)


def read_varint(buffer, position: int, end: int, where: str) -> tuple[int, int]:
    """(value, position after it) of the varint at `position`."""
    result, shift = 0, 0
    while True:
        if position >= end:
            raise OneByOneError(f"{where}: truncated (a number runs past the end at byte {position:,})")
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise OneByOneError(f"{where}: damaged (a number longer than 10 bytes at byte {position:,})")


def fields(buffer, start: int, end: int, where: str) -> Iterator[Field]:
    """Every field of the message in buffer[start:end], in order."""
    position = start
    while position < end:
        key, position = read_varint(buffer, position, end, where)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise OneByOneError(f"{where}: damaged (field number 0 at byte {position:,})")
        if wire_type == VARINT:
            value, position = read_varint(buffer, position, end, where)
            yield Field(number, wire_type, value, position)
            continue
        if wire_type == LENGTH:
            length, position = read_varint(buffer, position, end, where)
            size = length
        elif wire_type in (FIXED64, FIXED32):
            size = 8 if wire_type == FIXED64 else 4
        else:
            raise OneByOneError(
                f"{where}: damaged (wire type {wire_type} at byte {position:,}; groups are "
                "not used by caffe.proto)"
            )
        if position + size > end:
            raise OneByOneError(
                f"{where}: truncated (a field of {size:,} bytes at byte {position:,} runs "
                f"past the end at {end:,})"
            )
        yield Field(number, wire_type, position, position + size)
        position += size


def string(buffer, field: Field, where: str) -> str:
    if field.wire_type != LENGTH:
        raise OneByOneError(f"{where}: damaged (field {field.number} should be a string)")
    return bytes(buffer[field.value : field.end]).decode("utf-8", errors="replace")


def packed_varints(buffer, field: Field, where: str) -> list[int]:
    """The numbers of a repeated varint field, packed (one LENGTH field) or not (one VARINT field)."""
    if field.wire_type == VARINT:
        return [field.value]
    if field.wire_type != LENGTH:
        raise OneByOneError(f"{where}: damaged (field {field.number} should hold integers)")
    values, position = [], field.value
    while position < field.end:
        value, position = read_varint(buffer, position, field.end, where)
        values.append(value)
    return values


def signed64(value: int) -> int:
    """An int64 varint as a signed number (negative values are 10-byte two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value
