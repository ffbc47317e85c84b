"""Arguments shared by the commands that take a model: MODEL (or a training run), --input, --set."""

from __future__ import annotations

import argparse
from pathlib import Path

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.loading import (
    default_input_size,
    load_model,
    model_input_size,
    parse_input_shape,
    parse_overrides,
)

# The image side each built-in data set gives a run's model.
_DATA_SIDES = {"fashion-mnist": 28, "digits": 8}


def add_model_arguments(parser: argparse.ArgumentParser, *, runs: bool = True) -> None:
    what = "training run folder, " if runs else ""
    parser.add_argument(
        "model",
        metavar="RUN_OR_MODEL" if runs else "MODEL",
        help=f"{what}zoo name (see `onebyone models`), path/to/file.py:factory or package.module:factory",
    )
    parser.add_argument(
        "--input", metavar="CxHxW", help="input size, e.g. 3x224x224 (default: the model's own)"
    )
    add_overrides_argument(
        parser, "model option, e.g. --set num_classes=10 --set naive=true (repeatable; not for runs)"
    )


def add_overrides_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """--set KEY=VALUE (repeatable) into args.overrides, read by models.loading.parse_overrides."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def load_model_and_input(args: argparse.Namespace) -> tuple[nn.Module, tuple[int, int, int], str]:
    """The model named on the command line, its (C, H, W) input size, and a display name.

    A folder is read as a training run (its trained weights, and the input size of its data).
    """
    if Path(args.model).is_dir():
        model, input_size = _load_run(args)
    else:
        model = load_model(args.model, parse_overrides(args.overrides))
        input_size = model_input_size(args.model, model)
    if args.input:
        input_size = parse_input_shape(args.input)[-3:]
    if input_size is None:
        raise OneByOneError(f"{args.model}: give the input size with --input CxHxW")
    return model, tuple(input_size), args.model


def _load_run(args: argparse.Namespace) -> tuple[nn.Module, tuple[int, int, int] | None]:
    from onebyone.train import load_run

    if args.overrides:
        raise OneByOneError("--set changes a model's definition; a training run's model is fixed")
    model, config = load_run(args.model)
    design = default_input_size(config.model)
    side = _DATA_SIDES.get(config.data) or config.image_size or (design[1] if design else None)
    channels = config.model_overrides.get("in_channels", design[0] if design else None)
    if side is None or channels is None:
        return model, None
    return model, (channels, side, side)
