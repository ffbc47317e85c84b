"""`onebyone bench`: eager vs optimised inference speed, and 1×1 convs against the matmul roofline."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from onebyone.commands.common import add_model_arguments, input_size, open_subject
from onebyone.deploy.bench import BenchResult, bench


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
    parser.add_argument(
        "--no-reparam", action="store_true", help="optimised copy without merging branches into single convs"
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run = open_subject(args)
    model, input_shape, name = run.model(), input_size(args, run), run.name
    console = Console(stderr=True)
    with console.status("benchmarking") as status:
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
            progress=lambda msg: status.update(f"benchmarking: {msg}"),
        )
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        render(result, Console())
    return 0


def render(result: BenchResult, console: Console) -> None:
    shape = "×".join(map(str, result.input_shape))
    table = Table(title=f"{result.model} at {shape}, {result.threads} threads")
    for column in ("variant", "batch", "median ms", "images/s", "speedup"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in result.latency:
        speedup = f"{result.speedup(row.batch):.2f}×" if row.variant == "optimised" else ""
        table.add_row(
            row.variant, str(row.batch), f"{row.median_ms:.3f}", f"{row.images_per_s:,.0f}", speedup
        )
    console.print(table)
    if not result.pointwise:
        console.print("no 1×1 convolutions")
        return
    roof = Table(title=f"1×1 convs vs torch.matmul ({result.dtype}, same shapes)")
    for column in ("layer", "pixels × C_in → C_out", "conv GFLOP/s", "matmul GFLOP/s", "of matmul"):
        roof.add_column(column, justify="left" if column == "layer" else "right")
    for row in result.pointwise:
        roof.add_row(
            row.layer,
            f"{row.pixels:,} × {row.in_channels} → {row.out_channels}",
            f"{row.conv_gflops:.1f}",
            f"{row.matmul_gflops:.1f}",
            f"{row.fraction:.0%}",
        )
    console.print(roof)
