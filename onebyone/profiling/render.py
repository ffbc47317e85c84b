"""Views of a ProfileResult: rich table, Markdown, CSV, JSON, and side-by-side comparisons.

Measuring lives in `profiler.py`; everything here only formats the plain result.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console

from onebyone.memory.results import MemoryResult
from onebyone.profiling.results import SCHEMA_VERSION, LayerRow, ProfileResult, format_count
from onebyone.records import json_text
from onebyone.tables import Column, print_table

COLUMNS = (
    "layer",
    "type",
    "output",
    "params",
    "MACs",
    "other FLOPs",
    "act. bytes",
    "RF/stride",
    "1×1 params/MACs",
)


def format_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def field_text(field: dict | None) -> str:
    """'195/32' for a square field, '195×99/32×16' otherwise; 'global' marks a folded map."""
    if not field or not field["axes"]:
        return ""
    sizes = [a["size"] for a in field["axes"]]
    strides = [a["stride"] for a in field["axes"]]
    size = str(sizes[0]) if len(set(sizes)) == 1 else "×".join(map(str, sizes))
    stride = str(strides[0]) if len(set(strides)) == 1 else "×".join(map(str, strides))
    return f"{size} (global)" if not field["spatial"] else f"{size}/{stride}"


def share_text(row: LayerRow | dict) -> str:
    def get(key: str) -> Any:
        return row.get(key) if isinstance(row, dict) else getattr(row, key)

    if not get("pointwise_macs") and not get("pointwise_params"):
        return ""
    params = get("pointwise_params") / get("params") if get("params") else 0.0
    macs = get("pointwise_macs") / get("macs") if get("macs") else 0.0
    return f"{params:.0%} / {macs:.0%}"


def _label(row: LayerRow, short: bool = False) -> str:
    name = (row.path.rpartition(".")[2] if short else row.path) or "(model)"
    if row.call is None:
        return f"{name} (not called)"
    return f"{name} #{row.call}" if row.call else name


def _type(row: LayerRow) -> str:
    return f"{row.type} [1×1]" if row.is_pointwise_conv else row.type


def text_rows(result: ProfileResult, depth: int, short: bool = False) -> list[list[str]]:
    """Formatted cells of the grouped rows, then the totals row; `short` names a row by the last
    part of its path (the indentation shows the rest)."""
    cells = []
    for row in result.grouped(depth):
        cells.append(
            [
                "  " * row.depth + _label(row, short),
                _type(row),
                "×".join(map(str, row.output_shape)) if row.output_shape else "",
                f"{row.params:,}",
                format_count(row.macs),
                format_count(row.other_flops),
                format_bytes(row.activation_bytes),
                field_text(row.receptive_field),
                share_text(row),
            ]
        )
    totals = result.totals
    cells.append(
        [
            "total",
            "",
            "×".join(map(str, totals["output_shape"] or [])),
            f"{totals['params']:,}",
            format_count(totals["macs"]),
            format_count(totals["other_flops"]),
            format_bytes(totals["activation_bytes"]),
            field_text(totals["receptive_field"]),
            share_text(totals),
        ]
    )
    return cells


def notes(result: ProfileResult) -> list[str]:
    """Lines printed under a table: exact totals, peak memory, uncounted ops, warnings."""
    totals = result.totals
    lines = [
        f"params {totals['params']:,} (trainable {totals['trainable_params']:,}, "
        f"frozen {totals['frozen_params']:,}); MACs {totals['macs']:,} "
        f"(conv/linear/matmul, = torch.utils.flop_counter / 2); other FLOPs {totals['other_flops']:,}",
    ]
    if result.memory is None:  # `onebyone profile` prints memory_lines instead
        lines.append(
            "peak live activations of a no-grad forward (weights excluded): "
            f"{format_bytes(result.peak_activation_bytes)}"
        )
    uncounted = totals["uncounted"]
    if uncounted:
        listed = ", ".join(f"{op} ×{n}" for op, n in sorted(uncounted.items()))
        lines.append(f"uncounted ops (not in the totals): {listed}")
    else:
        lines.append("uncounted ops: none")
    lines += [f"warning: {w}" for w in result.warnings]
    return lines


def memory_lines(memory: MemoryResult) -> list[str]:
    """The predicted peaks with their parts, the modules that keep the most, and the batch that fits."""
    setting = [f"batch {memory.input_shape[0]}"]
    if memory.training is not None:
        setting.append(memory.optimizer)
    setting.append("no autocast" if memory.autocast == "float32" else f"{_SHORT[memory.autocast]} autocast")
    if memory.channels_last:
        setting.append("channels-last")
    if memory.device == "cuda":
        setting.append("on cuda: tensors only, cuBLAS/cuDNN workspaces not included")
    inference = memory.inference.parts
    lines = [
        f"predicted peak memory ({'; '.join(setting)}):",
        f"  inference {format_bytes(memory.inference.peak_bytes)} = weights "
        f"{format_bytes(inference['weights'])} + activations {format_bytes(inference['transient'])}",
    ]
    if memory.training is not None:
        parts = memory.training.parts
        lines += [
            f"  training {format_bytes(memory.training.peak_bytes)} = weights "
            f"{format_bytes(parts['weights'])} + optimizer {format_bytes(parts['optimizer'])}",
            f"    + gradients {format_bytes(parts['gradients'])} + saved {format_bytes(parts['saved'])}"
            f" + transient {format_bytes(parts['transient'])}",
        ]
        most = max(memory.training.modules, key=lambda m: m.saved_bytes, default=None)
        if most is not None:
            kept = format_bytes(most.saved_bytes)
            lines.append(f"  most kept for backward: {most.path or '(model)'} {kept}")
    fit = memory.fits
    if fit is not None:
        head = f"  fits {_exact_gib(fit.budget_bytes)} ({fit.phase}): "
        peak, next_peak = fit.peak_bytes, fit.next_peak_bytes  # None: batch 0 | the search's cap
        if peak is None:
            assert next_peak is not None, "batch 0 is below the cap, so batch 1 was simulated"
            lines.append(head + f"no batch; batch 1 needs {_exact_gib(next_peak)}")
        elif next_peak is None:
            cap = f"batch {fit.batch_size:,} or more ({_exact_gib(peak)}; the search's cap)"
            lines.append(head + cap)
        else:
            lines.append(
                head + f"batch {fit.batch_size:,} ({_exact_gib(peak)}); "
                f"{fit.batch_size + 1:,} needs {_exact_gib(next_peak)}"
            )
    return lines


_SHORT = {"bfloat16": "bf16", "float16": "fp16"}


def _exact_gib(value: int) -> str:
    """Enough digits to tell a peak that fits from one that does not: '23.9981 GiB'."""
    return f"{value / 2**30:.4f} GiB" if value >= 2**30 else f"{value / 2**20:.3f} MiB"


# Left out first when a terminal is narrow: the higher the number, the longer a column stays.
_PRIORITY: dict[str, float] = {
    "layer": 9,
    "params": 8,
    "MACs": 7,
    "RF/stride": 6,
    "1×1 params/MACs": 5,
    "output": 4,
    "type": 3,
    "act. bytes": 2,
    "other FLOPs": 1,
}


_KIND = {name: "value" for name in COLUMNS} | {"layer": "name"}


def render_table(result: ProfileResult, depth: int, console: Console) -> None:
    shapes = ", ".join("×".join(map(str, s)) for s in result.input_shapes)
    cells = text_rows(result, depth, short=True)
    priority = dict(_PRIORITY)
    if any(row[0].strip().split(" ")[0].isdigit() for row in cells):  # nn.Sequential's "0", "1", …:
        priority["type"] = 8.5  # the name does not say what the layer is, its type does
    columns = [
        Column(name, "left" if name in ("layer", "type", "output") else "right", priority[name], _KIND[name])
        for name in COLUMNS
    ]
    title = f"{result.model} at {shapes} ({result.dtype})"
    print_table(console, title, columns, cells, total_row=True)
    for line in notes(result):
        console.print(line, highlight=False)


def to_markdown(result: ProfileResult, depth: int) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    cells = text_rows(result, depth)
    for row in cells[:-1]:
        lines.append("| " + " | ".join(c.replace("  ", "&nbsp;&nbsp;") for c in row) + " |")
    lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in cells[-1]) + " |")
    lines.append("")
    lines += [f"- {line}" for line in notes(result)]
    return "\n".join(lines) + "\n"


CSV_FIELDS = (
    "path",
    "call",
    "type",
    "depth",
    "output_shape",
    "params",
    "trainable_params",
    "frozen_params",
    "macs",
    "other_flops",
    "activation_bytes",
    "pointwise_macs",
    "pointwise_params",
    "is_pointwise_conv",
    "rf_size_h",
    "rf_size_w",
    "rf_stride_h",
    "rf_stride_w",
    "rf_start_h",
    "rf_start_w",
    "rf_spatial",
    "uncounted",
)


def to_csv(result: ProfileResult, depth: int) -> str:
    """Raw numbers, one row per grouped module call (no totals row: sum the columns)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in result.grouped(depth):
        data = {k: getattr(row, k) for k in CSV_FIELDS if hasattr(row, k)}
        data["output_shape"] = "x".join(map(str, row.output_shape or []))
        data["uncounted"] = ";".join(f"{op}={n}" for op, n in sorted(row.uncounted.items()))
        field = row.receptive_field
        if field and field["axes"]:
            axes = field["axes"] if len(field["axes"]) > 1 else field["axes"] * 2
            for suffix, axis in (("h", axes[-2]), ("w", axes[-1])):
                data[f"rf_size_{suffix}"] = axis["size"]
                data[f"rf_stride_{suffix}"] = axis["stride"]
                data[f"rf_start_{suffix}"] = axis["start"]
            data["rf_spatial"] = field["spatial"]
        writer.writerow(data)
    return out.getvalue()


def to_json(result: ProfileResult) -> str:
    return json_text(result.to_dict(), indent=2)


# -- comparisons ----------------------------------------------------------------------------

COMPARED = (
    ("params", "params"),
    ("MACs", "macs"),
    ("other FLOPs", "other_flops"),
    ("activation bytes", "activation_bytes"),
    ("peak activation bytes", "peak_activation_bytes"),
    ("1×1 params", "pointwise_params"),
    ("1×1 MACs", "pointwise_macs"),
    ("inference peak", "inference_peak_bytes"),
    ("training peak", "training_peak_bytes"),
)


def _compared_value(result: ProfileResult, key: str) -> int | None:
    """A result's value of metric `key` (None: not measured, e.g. no training memory asked for)."""
    memory = result.memory
    if key == "peak_activation_bytes":
        return result.peak_activation_bytes
    if key == "inference_peak_bytes":
        return memory.inference.peak_bytes if memory is not None else None
    if key == "training_peak_bytes":
        return memory.training.peak_bytes if memory is not None and memory.training is not None else None
    return result.totals[key]


def comparison(results: list[ProfileResult], labels: list[str]) -> dict:
    """Side-by-side totals as data: each metric's values and their deltas against the first."""
    metrics = []
    devices = sorted({r.memory.device for r in results if r.memory is not None})
    for title, key in COMPARED:
        measured = [_compared_value(r, key) for r in results]
        values = [v for v in measured if v is not None]
        if len(values) < len(measured):
            continue
        base = values[0]
        metrics.append(
            {
                "metric": title,
                "key": key,
                "values": values,
                "deltas": [v - base for v in values],
                "ratios": [v / base if base else None for v in values],
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "labels": labels,
        "input_shapes": [r.input_shapes for r in results],
        "output_shapes": [r.totals["output_shape"] for r in results],
        "receptive_fields": [r.totals["receptive_field"] for r in results],
        "uncounted": [r.totals["uncounted"] for r in results],
        "memory_device": ", ".join(devices) or None,  # what the peaks are predicted for (memory.DEVICES)
        "metrics": metrics,
    }


def _compare_cells(data: dict) -> tuple[list[str], list[list[str]]]:
    header = ["metric", data["labels"][0]]
    for label in data["labels"][1:]:
        header += [label, "Δ vs first"]
    rows = []
    for metric in data["metrics"]:
        fmt = (
            format_bytes
            if "bytes" in metric["key"]
            else ((lambda v: f"{v:,}") if metric["key"] in ("params", "pointwise_params") else format_count)
        )
        cells = [metric["metric"], fmt(metric["values"][0])]
        for value, delta, ratio in zip(
            metric["values"][1:], metric["deltas"][1:], metric["ratios"][1:], strict=True
        ):
            sign = "+" if delta > 0 else ("-" if delta < 0 else "±")
            rel = f" ({ratio:.2f}×)" if ratio is not None else ""
            cells += [fmt(value), f"{sign}{fmt(abs(delta))}{rel}"]
        rows.append(cells)
    for title, key, fmt in (
        ("output", "output_shapes", lambda v: "×".join(map(str, v or []))),
        ("receptive field", "receptive_fields", field_text),
        ("uncounted ops", "uncounted", lambda v: ", ".join(f"{k}×{n}" for k, n in v.items()) or "none"),
    ):
        cells = [title, fmt(data[key][0])]
        for value in data[key][1:]:
            cells += [fmt(value), ""]
        rows.append(cells)
    return header, rows


def render_comparison(data: dict, console: Console) -> None:
    header, rows = _compare_cells(data)
    columns = [Column(header[0], "left", 1, "text")] + [Column(name, "right") for name in header[1:]]
    device = data.get("memory_device")
    predicted = f"; memory predicted for {device}" if device not in (None, "cpu") else ""
    print_table(console, f"comparison (Δ and ratio against the first{predicted})", columns, rows, blocks=1)


def comparison_markdown(data: dict) -> str:
    header, rows = _compare_cells(data)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def comparison_csv(data: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", *data["labels"]])
    for metric in data["metrics"]:
        writer.writerow([metric["key"], *metric["values"]])
    return out.getvalue()
