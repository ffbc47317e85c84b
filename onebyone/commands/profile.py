"""`onebyone profile`: per-layer parameters, MACs, memory and receptive field of any model."""

from __future__ import annotations

import argparse

from rich.console import Console

from onebyone.analysis import profile
from onebyone.analysis.render import render_table, to_csv, to_json, to_markdown
from onebyone.commands.common import add_model_arguments, full_input_shape, open_subject
from onebyone.errors import OneByOneError

FORMATS = ["table", "json", "csv", "markdown"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="per-layer params, MACs, memory and receptive field (no compute)",
        description="Trace one forward pass on meta tensors (shapes only, any input size in "
        "milliseconds) and report per module call: output shape, parameters, MACs of conv/linear/"
        "matmul, other FLOPs, activation bytes, receptive field, and the share of 1x1 convs.",
    )
    add_model_arguments(parser)
    parser.add_argument("--input-shape", metavar="N,C,H,W", help="full input shape, e.g. 1,3,224,224")
    parser.add_argument("--depth", type=int, default=2, help="module depth of the table rows (default 2)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("--train", action="store_true", help="profile the training-mode forward")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.depth < 0:
        raise OneByOneError(f"--depth must be 0 or more, got {args.depth}")
    run = open_subject(args)  # a run folder profiles its own (e.g. factorised) layout
    shape = full_input_shape(args, run)
    label = " ".join([args.model, *args.overrides])
    result = profile(run.model(), shape, train=args.train, name=label)
    if args.format == "json":
        print(to_json(result))
    elif args.format == "csv":
        print(to_csv(result, args.depth), end="")
    elif args.format == "markdown":
        print(to_markdown(result, args.depth), end="")
    else:
        render_table(result, args.depth, Console())
    return 0
