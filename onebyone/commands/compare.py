"""`onebyone compare`: models or variants side by side, with deltas against the first."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from onebyone.commands.arguments import parse_overrides, split_variant
from onebyone.commands.common import (
    add_memory_arguments,
    add_overrides_argument,
    caffe_input_size,
    full_input_shape,
    memory_setup,
    with_batch,
)
from onebyone.errors import OneByOneError
from onebyone.profiling import profile
from onebyone.profiling.layer_compare import compared_layers, render_layer_comparison
from onebyone.profiling.render import comparison, comparison_csv, comparison_markdown, render_comparison
from onebyone.progress import add_progress_argument, progress_for
from onebyone.records import json_text
from onebyone.runs import open_model, open_run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="models or variants side by side with deltas",
        description="Profile each model (a zoo name, file.py:factory or module:factory, optionally "
        'quoted with its overrides: "googlenet naive=true"; a Caffe .prototxt; or a run folder, whose '
        "model is fixed) and put the totals side by side with their difference and ratio against the "
        "first, predicted peak memory included "
        "(of a training step with --train); --layers pairs the weighted layers too.",
    )
    parser.add_argument(
        "models", nargs="+", metavar="RUN_OR_MODEL", help='e.g. googlenet "googlenet naive=true" runs/nin'
    )
    parser.add_argument(
        "--trust-code",
        action="store_true",
        help="for run folders made from user code: run the code they name",
    )
    parser.add_argument(
        "--input", metavar="CxHxW", help="input size for all models (default: each model's own)"
    )
    parser.add_argument("--input-shape", metavar="N,C,H,W", help="full input shape for all models")
    add_overrides_argument(parser, "option applied to every model (repeatable)")
    parser.add_argument(
        "--layers",
        action="store_true",
        help="also pair the weighted layers (convs, linears) in order and say where the definitions differ, "
        "e.g. a zoo model against its prototxt",
    )
    parser.add_argument("--format", choices=["table", "json", "csv", "markdown"], default="table")
    add_memory_arguments(parser)
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if len(args.models) < 2:
        raise OneByOneError("compare needs at least two models or variants")
    setup = memory_setup(args)
    subjects, labels, trusted = [], [], 0
    for text in args.models:  # every subject opened before any is profiled: a bad one fails at once
        spec, own = split_variant(text)
        overrides = [*args.overrides, *own]
        if Path(spec).is_dir():
            if overrides:
                raise OneByOneError(
                    f"{' '.join(overrides)}: options change a model's definition; {spec!r} is a run folder, "
                    "whose model is fixed (--set applies to every model: compare folders without it)"
                )
            try:
                subject = open_run(spec)
            except OneByOneError:
                if not args.trust_code:
                    raise
                subject = open_run(spec, trust_code=True)  # made from user code: what --trust-code allows
                trusted += 1
        else:
            subject = open_model(spec, parse_overrides(overrides), input_shape=caffe_input_size(args))
        subjects.append(subject)
        labels.append(" ".join([spec, *own]))
    if args.trust_code and not trusted:
        raise OneByOneError("--trust-code allows a run folder's user code; none of these was made from any")
    results = []
    with progress_for(args, "compare") as progress:
        for number, (subject, label) in enumerate(zip(subjects, labels, strict=True), 1):
            progress.stage(f"profiling {label} ({number} of {len(labels)})")
            shape = with_batch(args, full_input_shape(args, subject))
            results.append(profile(subject.model(), shape, name=label, train=args.train, memory=setup))
    data = comparison(results, labels)
    layers = compared_layers(results, labels) if args.layers else None
    if layers is not None and args.format in ("csv", "markdown"):
        raise OneByOneError("--layers is shown as a table or in --format json")
    if args.format == "json":
        print(json_text({**data, **({"layers": layers} if layers else {})}, indent=2))
    elif args.format == "csv":
        print(comparison_csv(data), end="")
    elif args.format == "markdown":
        print(comparison_markdown(data), end="")
    else:
        render_comparison(data, Console())
        if layers is not None:
            render_layer_comparison(layers, Console())
    return 0
