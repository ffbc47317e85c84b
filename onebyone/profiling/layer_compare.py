"""Two or more profiled models layer by layer: their weighted layers (convs, linears) paired in order.

A zoo model re-typed from a paper and the definition it was published as (a Caffe prototxt) name their
layers differently (`features.stage1.pointwise1` against `cccp1`), so layers are paired by position
among the rows that hold parameters or MACs, in execution order. Each pair is `same` when the output
shape (batch dropped), the parameters and the MACs agree; the first difference says where the two
definitions part.
"""

from __future__ import annotations

from itertools import zip_longest

from rich.console import Console

from onebyone.profiling.results import LayerRow, ProfileResult, format_count
from onebyone.tables import Column, print_table


def weighted_rows(result: ProfileResult) -> list[LayerRow]:
    """The module calls that hold parameters or do MACs themselves, in execution order."""
    return [row for row in result.rows if row.called and row.depth > 0 and (row.params or row.macs)]


def compared_layers(results: list[ProfileResult], labels: list[str]) -> dict:
    """As data: one entry per position, each model's layer there (or None) and whether all agree."""
    pairs = []
    for index, rows in enumerate(zip_longest(*(weighted_rows(r) for r in results)), start=1):
        cells = [
            None
            if row is None
            else {
                "layer": row.path,
                "type": row.type,
                "output_shape": (row.output_shape or [None])[1:],
                "params": row.params,
                "macs": row.macs,
            }
            for row in rows
        ]
        keys = [None if c is None else (c["output_shape"], c["params"], c["macs"]) for c in cells]
        same = None not in keys and len(set(map(str, keys))) == 1
        pairs.append({"index": index, "layers": cells, "same": same})
    return {"labels": labels, "layers": pairs, "all_same": all(p["same"] for p in pairs)}


def _letter(k: int) -> str:
    """A, B, …, Z, then A2, B2, … (compare takes any number of models)."""
    return chr(ord("A") + k % 26) + (str(k // 26 + 1) if k >= 26 else "")


def render_layer_comparison(data: dict, console: Console) -> None:
    """One row per model at each position (the position's number and verdict on its first row), so
    that a layer's path is a column of its own, shortened from the middle rather than wrapped. The
    models are named by letter (A = the first), spelled out above the table."""
    letters = [_letter(k) for k in range(len(data["labels"]))]
    console.print(
        "models: "
        + ", ".join(f"{letter} = {label}" for letter, label in zip(letters, data["labels"], strict=True)),
        highlight=False,
    )
    rows = []
    for pair in data["layers"]:
        for k, c in enumerate(pair["layers"]):
            first = k == 0
            rows.append(
                [
                    str(pair["index"]) if first else "",
                    letters[k],
                    "—" if c is None else c["layer"],
                    "" if c is None else "×".join(map(str, c["output_shape"])),
                    "" if c is None else f"{c['params']:,}",
                    "" if c is None else format_count(c["macs"]),
                    ("yes" if pair["same"] else "NO") if first else "",
                ]
            )
    columns = [
        Column("#", "right", 9),
        Column("model", "left", 9),
        Column("layer", "left", 8, "name"),
        Column("output", "right", 7),
        Column("params", "right", 6),
        Column("MACs", "right", 6),
        Column("same", "left", 9),
    ]
    print_table(console, "weighted layers in order (output without batch)", columns, rows)
    differ = [p["index"] for p in data["layers"] if not p["same"]]
    console.print(
        "every weighted layer agrees"
        if not differ
        else f"{len(differ)} of {len(data['layers'])} positions differ, first at #{differ[0]}"
    )
