"""`onebyone convert fc2conv`: turn every linear layer of a model into a convolution (claim C9)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from onebyone.commands.common import add_model_arguments, load_model_and_input
from onebyone.errors import OneByOneError
from onebyone.models.loading import parse_overrides
from onebyone.surgery.fc_to_conv import FC2CONV_FILE, WEIGHTS_FILE, convert_fc_layers, save_fc2conv


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="change a model's layers: fc2conv turns linear layers into convolutions",
        description="Rewrite a model (a training run's or a zoo/user model) and save the result.",
    )
    commands = parser.add_subparsers(dest="convert_command", metavar="HOW", required=True)
    fc2conv = commands.add_parser(
        "fc2conv",
        help="every linear layer becomes a conv: same output at the input size, a class map on larger inputs",
        description="Every linear layer after a flatten becomes a conv whose kernel covers the flattened "
        "map; one after global pooling (or after another linear layer) becomes a 1x1 conv, and the global "
        "pool a fixed window of the map size. The outputs are compared with the original's at the input "
        "size, and the converted model is run on an input twice as large, where it returns a class map. "
        f"Writes OUT/{WEIGHTS_FILE} and OUT/{FC2CONV_FILE}; `onebyone.surgery.load_fc2conv(OUT)` rebuilds "
        "the model.",
    )
    add_model_arguments(fc2conv)
    fc2conv.add_argument("--out", metavar="DIR", required=True, help="folder to write (new or empty)")
    fc2conv.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    fc2conv.set_defaults(func=run_fc2conv)


def _source(args: argparse.Namespace) -> dict:
    """How load_fc2conv rebuilds the unconverted model: the zoo/user spec, or a run's spec."""
    if Path(args.model).is_dir():
        from onebyone.surgery.runs import is_compressed_run
        from onebyone.train.config import read_config

        if is_compressed_run(args.model):
            raise OneByOneError(f"{args.model!r} is a compressed run; convert the run it came from")
        config = read_config(Path(args.model) / "config.json")
        return {"model": config.model, "model_overrides": dict(config.model_overrides), "run": args.model}
    return {"model": args.model, "model_overrides": parse_overrides(args.overrides)}


def run_fc2conv(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OneByOneError(f"output folder {str(out)!r} exists and is not empty; choose another --out")
    source = _source(args)
    model, input_size, name = load_model_and_input(args)
    model.eval()
    result = convert_fc_layers(model, (1, *input_size))
    channels, height, width = input_size
    larger = (1, channels, 2 * height, 2 * width)
    with torch.no_grad():
        larger_output = result.model.eval()(torch.randn(larger, generator=torch.Generator().manual_seed(0)))
    checks = {"larger_input_shape": list(larger), "larger_output_shape": list(larger_output.shape)}
    save_fc2conv(out, result, source, checks)
    report = {"model": name, "out": str(out), **result.to_dict(), **checks}
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    console = Console()
    table = Table(title=f"{name}: linear layers → convolutions")
    for column in ("layer", "before", "after", "reads"):
        table.add_column(column)
    for layer in result.layers:
        table.add_row(layer.layer, layer.before, layer.after, layer.reads)
    console.print(table)
    for note in result.pools:
        console.print(f"pool {note}")
    size = "×".join(map(str, input_size))
    console.print(
        f"largest |original − converted| at {size}: {result.max_abs_difference:.3g}; at "
        f"{'×'.join(map(str, larger[1:]))} the converted model returns {tuple(larger_output.shape)}"
    )
    console.print(f"written: {out / WEIGHTS_FILE}, {out / FC2CONV_FILE}")
    return 0
