"""onebyone.tables: tables fitted to a width without cutting a cell, and the speed wording."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from onebyone.tables import Column, fit_table, print_table, shorten_names, speed_text

PATHS = [
    "features.stage1.pointwise1.conv",
    "features.stage1.pointwise2.conv",
    "features.stage2.pointwise1.conv",
    "features.stage2.pool.conv",
    "classifier.conv",
]


def rendered(width: int, *args, **kwargs) -> str:
    out = io.StringIO()
    print_table(Console(file=out, width=width), *args, **kwargs)
    return out.getvalue()


def test_names_are_shortened_from_the_middle_and_stay_distinct():
    short, legend = shorten_names(PATHS, 14)
    assert len(set(short)) == len(PATHS)
    assert [name.split(".")[-1] for name in short] == [name.split(".")[-1] for name in PATHS]
    for full, name in zip(PATHS, short, strict=True):  # the legend spells every alias out again
        assert ".".join(legend.get(part, part) for part in name.split(".")) == full
    assert max(len(name) for name in short) <= 14


def test_aliases_never_collide_with_a_real_part():
    names = ["a.p1.x", "a.pointwise1.x", "a.pool1.x"]
    short, legend = shorten_names(names, 1)
    assert len(set(short)) == 3 and "p1" not in legend


def test_names_that_fit_are_left_alone():
    assert shorten_names(PATHS, 40) == (PATHS, {})


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_nothing_is_cut_and_the_table_fits(width):
    columns = [
        Column("layer", "left", 9, "name"),
        Column("params", "right", 8),
        Column("MACs before → after", "right", 7),
        Column("note", "left", 1, "text"),
    ]
    rows = [
        [p, f"{1000 * i:,}", f"{i}.50M → {i}.25M", "kept: factorising saves nothing"]
        for i, p in enumerate(PATHS)
    ]
    text = rendered(width, "layers", columns, rows)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for i in range(len(PATHS)):  # value cells whole, on one line
        assert f"{i}.50M → {i}.25M" in text or "columns left out" in text


def test_a_matrix_is_split_into_blocks_each_with_the_row_labels():
    columns = [Column("class", "left", 9, "text")] + [Column(str(j)) for j in range(12)]
    rows = [[f"{i} class-{i}", *(f"{1000 + 10 * i + j:,}" for j in range(12))] for i in range(12)]
    fitted = fit_table("confusion", columns, rows, 60, blocks=1)
    assert len(fitted.tables) > 1 and not fitted.left_out
    text = rendered(60, "confusion", columns, rows, blocks=1)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 60
    for i in range(12):
        for j in range(12):
            assert f"{1000 + 10 * i + j:,}" in text
        assert len(re.findall(rf"\b{i} class-{i}\b", text)) == len(fitted.tables)


def test_columns_left_out_are_named_lowest_priority_first():
    columns = [Column("a", priority=9), Column("b", priority=1), Column("c", priority=5)]
    rows = [["x" * 20, "y" * 20, "z" * 20]]
    fitted = fit_table("t", columns, rows, 50)
    assert fitted.left_out == ["b"] and fitted.kept == [0, 2]
    assert "columns left out at width 50: b" in fitted.notes[-1]


@pytest.mark.parametrize(
    ("ratio", "words"),
    [
        (1.35, "1.35× faster"),
        (1 / 1.35, "1.35× slower"),
        (0.74, "1.35× slower"),
        (2.0, "2.00× faster"),
        (1.001, "1.00× (the same speed)"),
        (0.999, "1.00× (the same speed)"),
    ],
)
def test_speed_ratios_in_words(ratio, words):
    assert speed_text(ratio) == words
