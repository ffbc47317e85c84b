"""Arguments shared by the commands that take a model: MODEL, --input, --set."""

from __future__ import annotations

import argparse

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.loading import default_input_size, load_model, parse_input_shape, parse_overrides


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="zoo name (see `onebyone models`), path/to/file.py:factory or package.module:factory",
    )
    parser.add_argument(
        "--input", metavar="CxHxW", help="input size, e.g. 3x224x224 (default: the model's own)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model option, e.g. --set num_classes=10 --set naive=true (repeatable)",
    )


def load_model_and_input(args: argparse.Namespace) -> tuple[nn.Module, tuple[int, int, int], str]:
    """The model named on the command line, its (C, H, W) input size, and a display name."""
    model = load_model(args.model, parse_overrides(args.overrides))
    if args.input:
        shape = parse_input_shape(args.input)
        input_size = shape[-3:]
    else:
        input_size = default_input_size(args.model)
        if input_size is None:
            raise OneByOneError(f"{args.model}: give the input size with --input CxHxW")
        channels = getattr(model, "in_channels", None)
        if isinstance(channels, int):  # an in_channels override changes the input too
            input_size = (channels, *input_size[1:])
    return model, tuple(input_size), args.model
