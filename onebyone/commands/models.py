"""`onebyone models`: list the zoo with parameter counts."""

from __future__ import annotations

import argparse
import re
from typing import TypedDict

import torch
from rich.console import Console

from onebyone.models.registry import get_model_entry, list_models
from onebyone.records import json_text
from onebyone.tables import Column, print_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the model zoo with parameter counts",
        description="List every registered model with its design input size and parameter count "
        "(built on the meta device: no memory, no compute).",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.set_defaults(func=run)


def count_parameters(name: str) -> int:
    """Parameters of the model `name` at its defaults, built on the meta device."""
    with torch.device("meta"):
        model = get_model_entry(name).builder()
    return sum(p.numel() for p in model.parameters())


def natural_key(name: str) -> tuple:
    """Sort key that reads digit runs as numbers: resnet18 < resnet34 < resnet101."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


class ModelRow(TypedDict):
    """One model in `onebyone models --format json`."""

    name: str
    input_size: list[int]
    parameters: int
    description: str


def run(args: argparse.Namespace) -> int:
    rows: list[ModelRow] = []
    for name in sorted(list_models(), key=natural_key):
        entry = get_model_entry(name)
        rows.append(
            {
                "name": name,
                "input_size": list(entry.input_size),
                "parameters": count_parameters(name),
                "description": entry.description,
            }
        )
    if args.format == "json":
        print(json_text({"schema_version": 1, "models": rows}, indent=2))
        return 0
    columns = [
        Column("model", "left", 9),
        Column("input (C×H×W)", "left", 6),
        Column("parameters", "right", 7),
        Column("description", "left", 8, "text"),
    ]
    cells = [
        [row["name"], "×".join(map(str, row["input_size"])), f"{row['parameters']:,}", row["description"]]
        for row in rows
    ]
    print_table(Console(), "onebyone model zoo", columns, cells)
    return 0
