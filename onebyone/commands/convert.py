"""`onebyone convert fc2conv`: every linear layer of a model into a convolution (claim C9);
`onebyone convert caffe`: a Caffe .prototxt (and .caffemodel) into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

from onebyone.caffe import build, index_caffemodel, load_caffemodel, read_prototxt
from onebyone.commands.arguments import parse_input_shape
from onebyone.commands.common import add_model_arguments, input_size, open_subject, print_warnings
from onebyone.data.classes import CLASS_LISTS, class_names
from onebyone.errors import OneByOneError
from onebyone.files import check_output_folder
from onebyone.progress import add_progress_argument, progress_for
from onebyone.records import json_text
from onebyone.runs import save_caffe_run, save_converted
from onebyone.runs.converted import FC2CONV_FILE
from onebyone.runs.schema import CAFFE
from onebyone.surgery.fc_to_conv import convert_fc_layers
from onebyone.tables import Column, print_table
from onebyone.train.checkpoint import MODEL_FILE


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
        f"Writes OUT/{MODEL_FILE} and OUT/{FC2CONV_FILE}, a folder every command takes as a run "
        "(`onebyone.runs.open_run(OUT)` in Python).",
    )
    add_model_arguments(fc2conv)
    fc2conv.add_argument("--out", metavar="DIR", required=True, help="folder to write (new or empty)")
    fc2conv.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    add_progress_argument(fc2conv)
    fc2conv.set_defaults(func=run_fc2conv)
    caffe = commands.add_parser(
        "caffe",
        help="import a Caffe net: a .prototxt (and its .caffemodel weights) as a run folder",
        description="Read a Caffe definition (deploy or train_val .prototxt, either syntax; the TEST phase) "
        "and optionally its trained weights (.caffemodel), with onebyone's own readers: no Caffe needed. "
        f"Writes OUT/{MODEL_FILE}, OUT/caffe.json and a copy of the prototxt, a folder every command takes "
        "as a run; opening it runs no code. See docs/caffe.md for the layers and Caffe's quirks.",
    )
    caffe.add_argument("prototxt", metavar="PROTOTXT", help="the net definition, e.g. deploy.prototxt")
    caffe.add_argument("--weights", metavar="CAFFEMODEL", help="trained weights (.caffemodel)")
    caffe.add_argument("--input", metavar="CxHxW", help="input size (default: the one the file declares)")
    caffe.add_argument(
        "--classes",
        metavar="LIST_OR_FILE",
        help="what the outputs mean: a class list (imagenet: the ILSVRC-2012 synsets in Caffe's label order) "
        "or a text file with one name per line (Caffe's synset_words.txt)",
    )
    caffe.add_argument(
        "--mean",
        metavar="M[,M,M]",
        help="per-channel mean the net was trained with, in pixel units 0-255, in the net's channel order "
        "(default: the data layer's mean_value, if any)",
    )
    caffe.add_argument("--scale", type=float, help="Caffe's transform scale (default: the data layer's or 1)")
    caffe.add_argument(
        "--channel-order",
        choices=["bgr", "rgb"],
        default="bgr",
        help="colour order the net takes (default bgr, Caffe's: photos, read as RGB, are swapped)",
    )
    caffe.add_argument("--out", metavar="DIR", required=True, help="folder to write (new or empty)")
    caffe.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    add_progress_argument(caffe)
    caffe.set_defaults(func=run_caffe)


def run_fc2conv(args: argparse.Namespace) -> int:
    out = check_output_folder(args.out)
    run = open_subject(args)  # its flags checked before any stage begins
    if run.kind in ("compressed", "converted"):
        raise OneByOneError(f"{args.model!r} is a {run.kind} run; convert the run it came from")
    size = input_size(args, run)
    with progress_for(args, "convert fc2conv") as progress:
        progress.stage("converting the linear layers and comparing the outputs")
        result = convert_fc_layers(run.model(), (1, *size))
        channels, height, width = size
        larger = (1, channels, 2 * height, 2 * width)
        progress.stage(f"running the converted model on {'×'.join(map(str, larger[1:]))}")
        with torch.no_grad():
            larger_output = result.model.eval()(
                torch.randn(larger, generator=torch.Generator().manual_seed(0))
            )
        checks = {"larger_input_shape": list(larger), "larger_output_shape": list(larger_output.shape)}
        source = {**run.spec, **({"run": str(run.path)} if run.is_folder else {})}
        train_config = run.config.to_dict() if run.config is not None else None
        progress.stage(f"writing {out}")
        save_converted(out, result, source, train_config, checks, run.data_record)
    report = {"model": run.name, "out": str(out), **result.to_dict(), **checks}
    if args.format == "json":
        print(json_text(report, indent=2))
        return 0
    console = Console()
    columns = [Column("layer", "left", 9, "name")]
    columns += [Column(name, "left", 8 - i, "text") for i, name in enumerate(("before", "after", "reads"))]
    rows = [[layer.layer, layer.before, layer.after, layer.reads] for layer in result.layers]
    print_table(console, f"{run.name}: linear layers → convolutions", columns, rows)
    for note in result.pools:
        console.print(f"pool {note}")
    for layer in result.position_wise:
        console.print(f"{layer}: a linear layer on the channels of a map, already a 1×1 conv (kept)")
    console.print(
        f"largest |original − converted| at {'×'.join(map(str, size))}: {result.max_abs_difference:.3g}; at "
        f"{'×'.join(map(str, larger[1:]))} the converted model returns {tuple(larger_output.shape)}"
    )
    console.print(f"written: {out / MODEL_FILE}, {out / FC2CONV_FILE}")
    return 0


def run_caffe(args: argparse.Namespace) -> int:
    out = check_output_folder(args.out)
    # every flag checked before any stage begins: transform values as caffe.json checks them, the
    # input size, the class list, and the caffemodel's structure (its index; the data is read later)
    mean = _numbers(args.mean, "--mean") if args.mean else None
    for name, value in (("scale", args.scale), ("mean", mean)):
        CAFFE.required[name].validate(value, f"--{name}")
    size = tuple(parse_input_shape(args.input)[-3:]) if args.input else None
    names = _class_list(args.classes)
    if args.weights:
        index_caffemodel(args.weights)
    with progress_for(args, "convert caffe") as progress:
        progress.stage(f"reading {args.prototxt}")
        definition = read_prototxt(args.prototxt)
        progress.stage("building the net")
        model = build(definition, size)
        if args.weights:
            progress.stage(f"reading the weights of {args.weights}")
        loaded = load_caffemodel(model, args.weights) if args.weights else None
        source = {"prototxt": str(args.prototxt), "weights": str(args.weights) if args.weights else None}
        classes = _checked_classes(args.classes, names, model.blob_shapes[model.output_name])
        progress.stage(f"writing {out}")
        save_caffe_run(
            out,
            args.prototxt,
            model,
            source,
            classes=classes,
            mean=mean,
            scale=args.scale,
            channel_order=args.channel_order,
        )
    layers, params = len(model.steps), sum(p.numel() for p in model.parameters())
    output_shape = list(model.blob_shapes[model.output_name])
    report = {
        "prototxt": str(args.prototxt),
        "out": str(out),
        "syntax": definition.syntax,
        "input": {
            "blob": definition.inputs[0].blob,
            "declared": definition.inputs[0].declared,
            "shape": list(model.input_shape),
        },
        "layers": layers,
        "params": params,
        "output": {"blob": model.output_name, "shape": output_shape},
        "dropped": list(definition.dropped),
        "weights": None
        if loaded is None
        else {
            "file": str(args.weights),
            "loaded": loaded.loaded,
            "missing": loaded.missing,
            "ignored": loaded.ignored,
        },
    }
    if loaded is not None and loaded.missing:
        print_warnings(
            [
                f"{args.weights} has no weights for {len(loaded.missing)} layer(s) of the net, "
                f"left as initialised: {', '.join(loaded.missing)}"
            ]
        )
    if args.format == "json":
        print(json_text(report, indent=2))
        return 0
    console = Console()
    console.print(
        f"{definition.name} ({definition.syntax} syntax): {layers} layers, "
        f"{params:,} parameters; input {definition.inputs[0].blob!r} "
        f"{'×'.join(map(str, model.input_shape))} ({definition.inputs[0].declared}), output "
        f"{model.output_name!r} {'×'.join(map(str, output_shape))}"
    )
    if definition.dropped:
        console.print(f"left out at TEST: {', '.join(definition.dropped)}")
    if loaded is not None:
        ignored = f"; {len(loaded.ignored)} layer(s) of the file not in the net" if loaded.ignored else ""
        console.print(f"weights: {len(loaded.loaded)} layer(s) from {args.weights}{ignored}")
    console.print(f"written: {out / MODEL_FILE}, {out / 'caffe.json'}")
    return 0


def _class_list(text: str | None) -> str | list[str] | None:
    """--classes as recorded: a known list's name, or the lines of a file."""
    if text is None or text in CLASS_LISTS:
        return text
    try:
        lines = Path(text).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise OneByOneError(
            f"--classes {text!r}: not a class list ({', '.join(CLASS_LISTS)}) nor a "
            f"readable file ({exc.__class__.__name__})"
        ) from None
    return [line.strip() for line in lines if line.strip()]


def _checked_classes(text: str | None, names, output_shape: tuple[int, ...]) -> str | list[str] | None:
    """`names` (from `_class_list`), checked against the net's outputs."""
    if names is None:
        return None
    outputs = output_shape[1] if len(output_shape) > 1 else output_shape[0]
    count = len(class_names(names)) if isinstance(names, str) else len(names)
    if count != outputs:
        raise OneByOneError(f"--classes {text!r} has {count} names; the net gives {outputs} outputs")
    return names


def _numbers(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise OneByOneError(f"{option} must be numbers separated by commas, got {text!r}") from None
