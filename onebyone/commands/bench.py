"""`onebyone bench`: eager vs optimised inference speed, and 1×1 convs against the matmul roofline."""

from __future__ import annotations

import argparse

from rich.console import Console

from onebyone.commands.common import add_model_arguments, input_size, open_subject, print_warnings
from onebyone.deploy.bench import BenchResult, bench
from onebyone.progress import add_progress_argument, progress_for
from onebyone.records import json_text
from onebyone.tables import Column, print_table, speed_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="inference speed: eager vs optimised, 1x1 convs vs matmul",
        description="Measure inference latency and throughput of the eager fp32 NCHW model and of its "
        "optimised copy (BN folded, branches merged, channels-last, --dtype), at each batch size "
        "(median of repeats after warm-up), and each 1x1 conv's achieved GFLOP/s next to torch.matmul "
        "on the same (pixels x C_in) x (C_in x C_out) shapes: that layer's speed limit on this machine.",
    )
    add_model_arguments(parser)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64], help="batch sizes (default: 1 64)")
    parser.add_argument("--dtype", default="bfloat16", help="optimised precision: float32 | bfloat16")
    parser.add_argument("--no-channels-last", action="store_true", help="keep NCHW in the optimised model")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per measurement (median)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    add_progress_argument(parser)
    parser.add_argument(
        "--no-reparam", action="store_true", help="optimised copy without merging branches into single convs"
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run = open_subject(args)
    model, input_shape, name = run.model(), input_size(args, run), run.name
    with progress_for(args, "bench") as progress:
        result = bench(
            model,
            input_shape,
            name=name,
            batch_sizes=tuple(args.batch),
            dtype=args.dtype,
            channels_last=not args.no_channels_last,
            repeats=args.repeats,
            device=args.device,
            reparam=not args.no_reparam,
            progress=progress.stage,
        )
    print_warnings(result.warnings)
    if args.format == "json":
        print(json_text(result.to_dict(), indent=2))
    else:
        render(result, Console())
    return 0


def render(result: BenchResult, console: Console) -> None:
    shape = "×".join(map(str, result.input_shape))
    rows = []
    for row in result.latency:
        speed = speed_text(result.speedup(row.batch)) if row.variant == "optimised" else ""
        rows.append(
            [
                row.variant,
                str(row.batch),
                f"{row.median_ms:.3f}",
                f"{row.iqr_ms:.3f}",
                f"{row.images_per_s:,.0f}",
                speed,
            ]
        )
    columns = [
        Column("variant", "left", 9, "text"),
        Column("batch", "right", 8),
        Column("median ms", "right", 8),
        Column("IQR ms", "right", 6),
        Column("images/s", "right", 5),
        Column("optimised vs eager", "right", 7),
    ]
    title = f"{result.model} at {shape}, {result.threads} threads (median and interquartile range of repeats)"
    print_table(console, title, columns, rows)
    if not result.pointwise:
        console.print("no 1×1 convolutions")
        return
    rows = [
        [
            row.layer,
            f"{row.pixels:,} × {row.in_channels} → {row.out_channels}",
            f"{row.conv_gflops:.1f}",
            f"{row.matmul_gflops:.1f}",
            f"{row.fraction:.0%}",
        ]
        for row in result.pointwise
    ]
    columns = [
        Column("layer", "left", 9, "name"),
        Column("pixels × C_in → C_out", "right", 5),
        Column("conv GFLOP/s", "right", 7),
        Column("matmul GFLOP/s", "right", 6),
        Column("of matmul", "right", 8),
    ]
    print_table(console, f"1×1 convs vs torch.matmul ({result.dtype}, same shapes)", columns, rows)
