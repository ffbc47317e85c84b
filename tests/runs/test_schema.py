"""The record schemas (onebyone.records, onebyone.runs.schema): every kind of bad value is refused by
name, what the writers write reads back, and JSON never holds a bare NaN."""

from __future__ import annotations

import json

import pytest

from onebyone.errors import OneByOneError
from onebyone.records import Float, Int, ListOf, Obj, Str, check, check_version, json_text, parse_json
from onebyone.runs.schema import CAFFE, FACTORIZED, FC2CONV

GOOD_LAYER = {
    "type": "Conv2d", "in_channels": 16, "out_channels": 32, "kernel_size": [1, 1], "stride": [1, 1],
    "padding": [0, 0], "dilation": [1, 1], "padding_mode": "zeros", "bias": False,
}  # fmt: skip
GOOD_FACTORIZED = {
    "schema_version": 1,
    "base": {"model": "nin-fashion", "model_overrides": {"width": 0.25}, "run": "run"},
    "input_shape": [1, 28, 28],
    "structure": [{"name": "features.a", "method": "tucker2", "ranks": [16, 16], "layers": [GOOD_LAYER]}],
    "train_config": None,
}
GOOD_FC2CONV = {
    "schema_version": 1,
    "source": {"model": "nin-fashion"},
    "input_shape": [1, 1, 28, 28],
    "train_config": None,
}
GOOD_CAFFE = {
    "schema_version": 1, "source": {"prototxt": "n.prototxt", "weights": None}, "input_shape": [3, 8, 8],
    "classes": None, "mean": None, "scale": None, "channel_order": "bgr",
}  # fmt: skip


def changed(record: dict, path: str, value) -> dict:
    record = json.loads(json.dumps(record))
    *parents, last = path.split(".")
    item = record
    for key in parents:
        item = item[int(key)] if key.isdigit() else item[key]
    item[int(last) if last.isdigit() else last] = value
    return record


@pytest.mark.parametrize(
    "schema, record", [(FACTORIZED, GOOD_FACTORIZED), (FC2CONV, GOOD_FC2CONV), (CAFFE, GOOD_CAFFE)]
)
def test_what_the_writers_write_fits(schema, record):
    assert check(record, schema, "x") is record


@pytest.mark.parametrize(
    "schema, record, path, value, words",
    [
        (FACTORIZED, GOOD_FACTORIZED, "input_shape.0", 1.5, "input_shape[0] must be an integer"),
        (FACTORIZED, GOOD_FACTORIZED, "input_shape.0", True, "got True"),
        (FACTORIZED, GOOD_FACTORIZED, "input_shape.0", 0, "from 1 to 1,048,576, got 0"),
        (FACTORIZED, GOOD_FACTORIZED, "input_shape", [1], "a list of 3 to 4 items"),
        (FACTORIZED, GOOD_FACTORIZED, "base.model", 5, "base.model must be a string"),
        (FACTORIZED, GOOD_FACTORIZED, "base.model_overrides.width", float("inf"), "model_overrides.width"),
        (FACTORIZED, GOOD_FACTORIZED, "base.model_overrides", [1], "base.model_overrides must be an object"),
        (FACTORIZED, GOOD_FACTORIZED, "structure.0.ranks.0", -1, "structure[0].ranks[0]"),
        (FACTORIZED, GOOD_FACTORIZED, "structure.0.layers.0.kernel_size", [1, 1, 1], "kernel_size"),
        (FACTORIZED, GOOD_FACTORIZED, "structure.0.layers.0.padding_mode", "mirror", "one of zeros"),
        (FACTORIZED, GOOD_FACTORIZED, "structure.0.layers.0.bias", 1, "bias must be true or false"),
        (FACTORIZED, GOOD_FACTORIZED, "structure.0.layers.0.type", "Warp", "type must be one of Conv2d"),
        (FACTORIZED, GOOD_FACTORIZED, "structure.0.layers.0.extra", 1, "unknown field 'extra'"),
        (FACTORIZED, GOOD_FACTORIZED, "extra", 1, "unknown field 'extra'"),
        (FC2CONV, GOOD_FC2CONV, "max_abs_difference", -1.0, "max_abs_difference must be a finite number ≥ 0"),
        (FC2CONV, GOOD_FC2CONV, "source", "nin", "source must be an object"),
        (CAFFE, GOOD_CAFFE, "channel_order", "grb", "channel_order must be one of bgr, rgb, got 'grb'"),
        (CAFFE, GOOD_CAFFE, "scale", 0, "scale must be a finite number > 0"),
        (CAFFE, GOOD_CAFFE, "mean", [float("nan")], "mean[0] must be a finite number"),
        (CAFFE, GOOD_CAFFE, "classes", 5, "classes must be"),
    ],
)
def test_each_bad_field_is_refused_by_name(schema, record, path, value, words):
    with pytest.raises(OneByOneError, match="^x: ") as caught:
        check(changed(record, path, value), schema, "x")
    assert words in str(caught.value)


def test_a_missing_field_is_named():
    record = dict(GOOD_FACTORIZED)
    del record["structure"]
    with pytest.raises(OneByOneError, match="structure is missing"):
        check(record, FACTORIZED, "x")


def test_schema_versions_newer_older_and_upgraded():
    with pytest.raises(
        OneByOneError, match="written by a newer onebyone .schema version 3; this one reads up to 2"
    ):
        check_version({"schema_version": 3}, 2, "x")
    with pytest.raises(OneByOneError, match="schema version 1 is not one this onebyone reads"):
        check_version({"schema_version": 1}, 2, "x")
    with pytest.raises(OneByOneError, match="has no schema_version"):
        check_version({}, 1, "x")
    upgraded = check_version({"schema_version": 1, "a": 1}, 2, "x", {1: lambda r: {**r, "b": 2}})
    assert upgraded == {"schema_version": 2, "a": 1, "b": 2}


def test_numbers_and_ranges():
    check(5, Int(1, 5), "x")
    for bad in (0, 6, 5.0, True, "5"):
        with pytest.raises(OneByOneError):
            check(bad, Int(1, 5), "x")
    for bad in (float("nan"), float("inf"), 0, 2):
        with pytest.raises(OneByOneError):
            check(bad, Float(0, 1, low_open=True), "x")
    with pytest.raises(OneByOneError, match="a list of 0 to 2 items"):
        check([1, 2, 3], ListOf(Int(0, 9), 0, 2), "x")
    with pytest.raises(OneByOneError, match="one of a, b"):
        check(Obj({"k": Str(("a", "b"))}).expected and {"k": "c"}, Obj({"k": Str(("a", "b"))}), "x")


def test_json_text_writes_non_finite_numbers_as_null():
    text = json_text({"a": float("nan"), "b": [float("inf"), 1.5], "c": (float("-inf"),)})
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": [None]}
    assert "NaN" not in text and "Infinity" not in text


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"a": NaN}', "NaN is not a number JSON allows"),
        ('{"a": -Infinity}', "-Infinity is not a number JSON allows"),
        ("[" * 100_000 + "]" * 100_000, "nested more than 32 levels deep"),
        ("[" * 40 + "]" * 40, "nested more than 32 levels deep"),
        ("{", "Expecting property name"),
    ],
)
def test_parse_json_refuses_non_finite_numbers_and_deep_nesting(text, words):
    with pytest.raises(OneByOneError, match="^where ") as caught:
        parse_json(text, "where")
    assert words in str(caught.value)
