"""`onebyone export`: ONNX export, checked by running the file with onnxruntime."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from onebyone.commands.common import add_model_arguments, input_size, open_subject, print_warnings
from onebyone.commands.optimize import reparam_summary
from onebyone.deploy.export import check_opset, export_onnx
from onebyone.files import check_output_file
from onebyone.progress import add_progress_argument, progress_for
from onebyone.records import json_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export to ONNX and check it with onnxruntime",
        description="Export the model (eval mode, dynamic batch axis) to ONNX, run the file with "
        "onnxruntime on a random input and report the largest difference from PyTorch's output.",
    )
    add_model_arguments(parser)
    parser.add_argument("--onnx", required=True, metavar="PATH", help="output .onnx file")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument(
        "--no-reparam",
        action="store_true",
        help="export the model as it is, without folding batch norm and merging branches into single convs",
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_output_file(args.onnx)  # before the model is built
    check_opset(args.opset)
    run = open_subject(args)  # its flags checked before any stage begins
    shape = (1, *input_size(args, run))
    with progress_for(args, "export") as progress:
        progress.stage(
            "exporting to ONNX and checking it" + ("" if args.no_reparam else " (re-parameterised)")
        )
        result = export_onnx(run.model(), args.onnx, shape, opset=args.opset, reparam=not args.no_reparam)
    print_warnings(result.warnings)
    if args.format == "json":
        print(json_text(asdict(result), indent=2))
        return 0
    check = (
        "onnxruntime not installed: not checked"
        if result.max_abs_diff is None
        else (f"onnxruntime max |diff| vs PyTorch: {result.max_abs_diff:.2e}")
    )
    print(f"wrote {result.path} ({result.file_bytes:,} bytes, opset {result.opset}); {check}")
    if result.reparam is not None:
        diff = result.reparam_max_abs_diff
        print(f"{reparam_summary(result.reparam)}; max |diff| vs the model given: {diff:.2e}")
    return 0
