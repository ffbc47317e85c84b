"""The JSON files onebyone writes and reads back, checked the same way both times.

`json_text` turns a value into JSON that never holds a bare NaN or Infinity (a value that is not a
finite number is written as null); `parse_json`/`read_json` read JSON of a bounded size and nesting
depth, refusing NaN and Infinity, in one OneByOneError line naming the file. `schema` describes what a
file may hold (types, ranges, known names, sizes) and checks a value against it; `check_version`
refuses a schema version this onebyone does not read. Each file format declares its schema once, beside
its writer and reader (see docs/robustness.md, "Values read"), and both call the same check.
"""

from onebyone.records.json_io import (
    MAX_DEPTH,
    MAX_JSON_BYTES,
    finite_or_none,
    json_text,
    parse_json,
    read_json,
    same_json,
)
from onebyone.records.schema import (
    Bool,
    Either,
    Float,
    Int,
    ListOf,
    MapOf,
    Obj,
    Optional,
    Plain,
    SchemaError,
    Spec,
    Str,
    Tagged,
    check,
    check_version,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "Bool",
    "Either",
    "Float",
    "Int",
    "ListOf",
    "MapOf",
    "Obj",
    "Optional",
    "Plain",
    "SchemaError",
    "Spec",
    "Str",
    "Tagged",
    "check",
    "check_version",
    "finite_or_none",
    "json_text",
    "parse_json",
    "read_json",
    "same_json",
]
