"""`onebyone compress`: factorise a trained run to a budget and measure what it costs and gains."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from onebyone.commands.arguments import parse_input_shape, parse_overrides
from onebyone.commands.common import add_code_arguments, add_overrides_argument, caffe_input_size
from onebyone.errors import OneByOneError
from onebyone.files import check_output_folder
from onebyone.progress import add_progress_argument, progress_for
from onebyone.records import json_text
from onebyone.runs import Run, open_run_or_model, save_compressed
from onebyone.surgery.compress import CompressResult, compress
from onebyone.surgery.factorize import MAX_HOOI_ITERS, TARGETS
from onebyone.tables import Column, print_table, speed_text
from onebyone.timing import check_repeats
from onebyone.train.config import MAX_COUNT


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compress",
        help="factorise a trained model into 1x1 bottlenecks to a MACs/params/latency budget",
        description="Replace k×k convs by 1×1 → k×k → 1×1 (Tucker-2) and 1×1 convs and linear layers "
        "by two thin layers (SVD), with ranks chosen to keep --budget of the original cost; then "
        "measure parameters, MACs, latency (batch 1 and 64) and test accuracy before, after and after "
        "fine-tuning, and write a new run.",
    )
    parser.add_argument("run", metavar="RUN", help="training run folder (or a zoo MODEL spec, untrained)")
    parser.add_argument(
        "--budget",
        type=float,
        required=True,
        help="fraction of the original cost to keep, in (0, 1], e.g. 0.5",
    )
    parser.add_argument("--target", default="macs", help=f"what the budget counts: {' | '.join(TARGETS)}")
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        help=f"epochs of fine-tuning a run on its data, 0 to {MAX_COUNT:,} (0: none; default 1; a MODEL "
        "spec has no data to fine-tune on)",
    )
    parser.add_argument("--hooi-iters", type=int, default=0,
                        help=f"HOOI refinement iterations for Tucker-2, 0 to {MAX_HOOI_ITERS}")  # fmt: skip
    parser.add_argument("--out", metavar="NEW_RUN", help="folder for the new run (default: RUN-compressed)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64], help="latency batch sizes")
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="measure latency (and the latency target) on channels-last tensors, the "
        "deployment layout, instead of NCHW",
    )
    parser.add_argument(
        "--frozen",
        action="store_true",
        help="measure latency on frozen TorchScript copies of both models (BN folded, conv + "
        "ReLU fused by oneDNN), where elementwise layers stop hiding the convolutions' cost",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per latency (median)")
    parser.add_argument("--input", metavar="CxHxW", help="input size for a MODEL spec (default: the zoo's)")
    add_overrides_argument(parser, "model option for a MODEL spec (repeatable)")
    add_code_arguments(parser)
    add_progress_argument(parser)
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.budget <= 1:
        raise OneByOneError(f"--budget must be in (0, 1], got {args.budget:g}")
    if args.target not in TARGETS:
        raise OneByOneError(f"unknown --target {args.target!r}; expected one of {', '.join(TARGETS)}")
    if args.finetune_epochs is not None and not 0 <= args.finetune_epochs <= MAX_COUNT:
        raise OneByOneError(f"--finetune-epochs must be from 0 to {MAX_COUNT:,}, got {args.finetune_epochs}")
    if not 0 <= args.hooi_iters <= MAX_HOOI_ITERS:  # before the work (factorize checks it again)
        raise OneByOneError(f"--hooi-iters must be from 0 to {MAX_HOOI_ITERS}, got {args.hooi_iters}")
    check_repeats(args.repeats)
    out = check_output_folder(Path(args.out) if args.out else Path(f"{args.run.rstrip('/')}-compressed"))
    source = open_run_or_model(
        args.run,
        overrides=parse_overrides(args.overrides),
        code=args.model_code,
        trust_code=args.trust_code,
        input_shape=caffe_input_size(args),
    )
    if source.kind in ("compressed", "converted"):
        raise OneByOneError(
            f"{args.run!r} is already a {source.kind} run; compress the run it came from"
            + (" with a smaller --budget" if source.kind == "compressed" else "")
        )
    input_shape = _input_shape(source, args.input)
    trained = source.config is not None
    if not trained and args.finetune_epochs:
        raise OneByOneError(
            f"--finetune-epochs fine-tunes a run on its data; {source.name} is a model spec with none "
            "(compress a run folder, or drop --finetune-epochs)"
        )
    finetune_epochs = 1 if args.finetune_epochs is None else args.finetune_epochs
    note = None if trained else "a bare model spec has no data set: accuracy not measured (compress a run)"
    with progress_for(args, "compress") as progress:
        model, result = compress(
            source.model(),
            input_shape,
            args.budget,
            target=args.target,
            source=args.run,
            batches=tuple(args.batch),
            repeats=args.repeats,
            hooi_iters=args.hooi_iters,
            channels_last=args.channels_last,
            frozen=args.frozen,
            evaluate=source.evaluate if trained else None,
            finetune=source.finetune if trained else None,
            finetune_epochs=finetune_epochs,
            accuracy_note=note,
            progress=progress.stage,
        )
        progress.stage(f"writing {out}")
    config = source.config.to_dict() if source.config is not None else None
    base = {**source.spec, **({"run": str(source.path)} if source.is_folder else {})}
    save_compressed(out, model, result, base, config, source.data_record)
    if args.format == "json":
        print(json_text(result.to_dict(), indent=2))
    else:
        render(result, Console())
    return 0


def _input_shape(source: Run, text: str | None) -> tuple[int, int, int]:
    if source.is_folder:
        if text:  # the run's own size is what its accuracy and latency mean
            raise OneByOneError(f"--input is for a MODEL spec; the run {source.name} takes its own input")
        assert source.input_size is not None  # every run folder records the input size it was made at
        return _chw(source.input_size)
    if text:
        return _chw(parse_input_shape(text)[-3:])  # CxHxW, or NxCxHxW less its batch
    if source.input_size is None:
        raise OneByOneError(f"{source.name}: give the input size with --input CxHxW")
    return _chw(source.input_size)


def _chw(size: Sequence[int]) -> tuple[int, int, int]:
    """A (C, H, W) input size as a 3-tuple, whatever sequence holds it."""
    channels, height, width = size
    return channels, height, width


def _count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def render(result: CompressResult, console: Console) -> None:
    report = result.report
    shape = "×".join(map(str, report.input_shape))
    rows = []
    for row in report.layers:
        ranks = "×".join(map(str, row.ranks)) if row.ranks else "–"
        params = f"{_count(row.params_before)} → {_count(row.params_after)}"
        macs = f"{_count(row.macs_before)} → {_count(row.macs_after)}"
        error = f"{row.error:.3f}" if row.error is not None else "–"
        rows.append(
            [row.name, row.shape, f"{row.method or 'kept'} {ranks}", params, macs, error, row.reason or ""]
        )
    columns = [
        Column("layer", "left", 9, "name"),
        Column("original", "left", 3, "text"),
        Column("ranks", "right", 8),
        Column("params", "right", 6),
        Column("MACs", "right", 7),
        Column("rel. error", "right", 5),
        Column("note", "left", 4, "text"),
    ]
    print_table(
        console, f"{result.source}: budget {report.budget:g} of {report.target}, input {shape}", columns, rows
    )
    layout = "channels-last" if result.channels_last else "NCHW"
    runner = "frozen TorchScript" if result.frozen else "eager"
    rows = [
        [
            "parameters (model)",
            f"{result.params_before:,}",
            f"{result.params_after:,}",
            f"{result.params_after / result.params_before:.3f}",
        ]
    ]
    macs_before, macs_after = report.total("macs_before"), report.total("macs_after")
    rows.append(
        [
            "MACs (factorisable layers)",
            _count(macs_before),
            _count(macs_after),
            f"{macs_after / macs_before:.3f}" if macs_before else "–",
        ]
    )
    rows.append(["predicted by the MAC ratio", "", "", speed_text(result.predicted_speedup)])
    for latency in result.latency:
        rows.append(
            [
                f"latency batch {latency.batch} (ms)",
                f"{latency.before_ms:.2f}",
                f"{latency.after_ms:.2f}",
                speed_text(latency.speedup),
            ]
        )
    rows.append(
        [
            "test accuracy: before / after",
            _percent(result.accuracy_before),
            _percent(result.accuracy_after),
            "",
        ]
    )
    if result.finetune_epochs:
        rows.append(
            [
                f"after {result.finetune_epochs} epoch(s) of fine-tuning",
                "",
                _percent(result.accuracy_finetuned),
                "",
            ]
        )
    columns = [
        Column("measure", "left", 9, "text"),
        Column("before", "right", 7),
        Column("after", "right", 8),
        Column("ratio", "right", 6),
    ]
    title = f"totals ({result.threads} threads; latency: fp32 {runner} {layout}, median)"
    print_table(console, title, columns, rows)
    if result.accuracy_note:
        console.print(f"accuracy: {result.accuracy_note}")
    console.print(f"wrote {result.out_dir}")
