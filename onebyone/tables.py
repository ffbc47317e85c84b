"""Terminal tables that stay whole at any width: columns are left out, never cells cut to "…".

A table too wide for the console (an 80-column terminal, or a pipe, where rich assumes 80 columns)
keeps its most important columns at their full width and leaves out the rest, lowest priority first;
the caller prints which were left out. A cell that is still too long folds onto a second line.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

_PADDING = 3  # rich's default: one space each side and a border


@dataclass(frozen=True)
class Column:
    name: str
    justify: str = "right"
    priority: int = 0  # columns of lower priority are left out first (ties: the rightmost first)


def fitted_table(
    title: str, columns: list[Column], rows: list[list[str]], width: int
) -> tuple[Table, list[str], list[int]]:
    """A rich Table of the columns that fit in `width`; also the names and indices of those left out."""
    natural = [
        max([len(word) for word in column.name.split()] + [len(str(row[i])) for row in rows]) + _PADDING
        for i, column in enumerate(columns)
    ]
    kept = list(range(len(columns)))
    by_priority = sorted(kept, key=lambda i: (columns[i].priority, -i))
    while len(kept) > 1 and sum(natural[i] for i in kept) + 1 > width:
        kept.remove(by_priority.pop(0))
    table = Table(title=title)
    for i in kept:
        table.add_column(columns[i].name, justify=columns[i].justify, overflow="fold")
    left_out = [i for i in range(len(columns)) if i not in kept]
    return table, [columns[i].name for i in left_out], kept


def left_out_note(names: list[str], width: int) -> str:
    return (
        f"columns left out at width {width}: {', '.join(names)} "
        "(a wider terminal, or --format markdown/csv/json, shows all)"
    )
