"""`onebyone profile`: per-layer parameters, MACs, memory and receptive field of any model."""

from __future__ import annotations

import argparse

from rich.console import Console

from onebyone.commands.arguments import parse_bytes
from onebyone.commands.common import (
    add_memory_arguments,
    add_model_arguments,
    full_input_shape,
    memory_setup,
    open_subject,
    with_batch,
)
from onebyone.errors import OneByOneError
from onebyone.memory.estimate import estimate_memory
from onebyone.memory.fit import largest_batch
from onebyone.profiling import profile
from onebyone.profiling.render import memory_lines, render_table, to_csv, to_json, to_markdown
from onebyone.progress import add_progress_argument, progress_for

FORMATS = ["table", "json", "csv", "markdown"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="per-layer params, MACs, memory and receptive field (no compute)",
        description="Trace one forward pass on meta tensors (shapes only, any input size in "
        "milliseconds) and report per module call: output shape, parameters, MACs of conv/linear/"
        "matmul, other FLOPs, activation bytes, receptive field, and the share of 1x1 convs; then "
        "the predicted peak memory of inference and, with --train, of one training step (forward, "
        "backward, optimizer step) with its parts, simulated on fake tensors.",
    )
    add_model_arguments(parser)
    parser.add_argument("--input-shape", metavar="N,C,H,W", help="full input shape, e.g. 1,3,224,224")
    parser.add_argument(
        "--depth", type=int, help="module depth of the table, CSV or Markdown rows (default 2; JSON has all)"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    add_memory_arguments(parser)
    parser.add_argument(
        "--fits",
        metavar="SIZE",
        help="also find the largest batch whose predicted peak fits SIZE, e.g. 24GiB or 16GB "
        "(training with --train, else inference)",
    )
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.depth is not None and args.format == "json":
        raise OneByOneError("--depth chooses the rows of a table, CSV or Markdown; JSON has every module")
    args.depth = 2 if args.depth is None else args.depth
    if args.depth < 0:
        raise OneByOneError(f"--depth must be 0 or more, got {args.depth}")
    setup = memory_setup(args)
    budget = parse_bytes(args.fits) if args.fits else None
    run = open_subject(args)  # a run folder profiles its own (e.g. factorised) layout
    shape = with_batch(args, full_input_shape(args, run))  # flags checked before any stage begins
    label = " ".join([args.model, *args.overrides])
    model = run.model()
    with progress_for(args, "profile") as progress:
        progress.stage("tracing the layers")
        result = profile(model, shape, train=args.train, name=label)
        progress.stage("predicting the peak memory" + (" of a training step" if args.train else ""))
        try:
            result.memory = estimate_memory(model, shape, setup, train=args.train)
        except OneByOneError as exc:
            if args.train or budget is not None:  # asked for: its failure is the answer
                raise
            result.warnings.append(f"peak memory not predicted: {exc}")
        if budget is not None:
            assert result.memory is not None  # with a budget, its failure was raised above
            progress.stage(f"finding the largest batch that fits {args.fits}")
            result.memory.fits = largest_batch(model, shape[1:], budget, setup, train=args.train)
    if args.format == "json":
        print(to_json(result))
    elif args.format == "csv":
        print(to_csv(result, args.depth), end="")
    elif args.format == "markdown":
        print(to_markdown(result, args.depth), end="")
        if result.memory is not None:
            print("\n".join(memory_lines(result.memory)))
    else:
        console = Console()
        render_table(result, args.depth, console)
        for line in memory_lines(result.memory) if result.memory is not None else []:
            console.print(line, highlight=False)
    return 0
