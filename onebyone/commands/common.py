"""Arguments shared by the commands that take a model: RUN_OR_MODEL, --input, --set, --model, --trust-code.

Commands only parse arguments and render results: a run folder or a model spec becomes a
`onebyone.runs.Run` here, and everything about it (weights, data, preprocessing) comes from there.
"""

from __future__ import annotations

import argparse
import sys

from torch import Tensor

from onebyone.commands.arguments import parse_full_shape, parse_input_shape, parse_overrides
from onebyone.errors import OneByOneError
from onebyone.memory.estimate import DEVICES, MemorySetup
from onebyone.memory.optimizers import OPTIMIZERS
from onebyone.runs import Run, open_run_or_model


def add_model_arguments(parser: argparse.ArgumentParser, *, runs: bool = True) -> None:
    what = "run folder, " if runs else ""
    parser.add_argument(
        "model",
        metavar="RUN_OR_MODEL" if runs else "MODEL",
        help=f"{what}zoo name (see `onebyone models`), path/to/file.py:factory, package.module:factory "
        "or a Caffe net.prototxt",
    )
    parser.add_argument(
        "--input", metavar="CxHxW", help="input size, e.g. 3x224x224 (default: the model's own)"
    )
    add_overrides_argument(
        parser, "model option, e.g. --set num_classes=10 --set naive=true (repeatable; not for runs)"
    )
    if runs:
        add_code_arguments(parser)


def add_code_arguments(parser: argparse.ArgumentParser) -> None:
    """--model / --trust-code: consent to run the user code a run folder was made from."""
    parser.add_argument(
        "--model",
        dest="model_code",
        metavar="FILE.py:FACTORY",
        help="for a run made from your own code: the code to build its model with (a run folder "
        "never runs code on its own)",
    )
    parser.add_argument(
        "--trust-code",
        action="store_true",
        help="for a run made from user code: run the code the folder names",
    )


def add_overrides_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """--set KEY=VALUE (repeatable) into args.overrides, read by commands.arguments.parse_overrides."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def open_subject(args: argparse.Namespace) -> Run:
    """The run folder or model named on the command line, as a Run."""
    return open_run_or_model(
        args.model,
        overrides=parse_overrides(args.overrides),
        code=getattr(args, "model_code", None),
        trust_code=getattr(args, "trust_code", False),
        input_shape=caffe_input_size(args),
    )


MEMORY_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
                 "float16": "float16", "fp16": "float16"}  # fmt: skip


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    """--batch, --train, --optimizer, --dtype, --channels-last: the step whose memory is predicted."""
    parser.add_argument("--batch", type=int, metavar="N", help="batch size (default: 1, or --input-shape's)")
    parser.add_argument(
        "--train", action="store_true",
        help="profile the training-mode forward and predict a training step's peak memory",
    )  # fmt: skip
    parser.add_argument(
        "--optimizer", choices=list(OPTIMIZERS), default=None,
        help="optimizer of the training step (with --train; default adamw): "
        + "; ".join(f"{name}: {what}" for name, (what, _) in OPTIMIZERS.items()),
    )  # fmt: skip
    parser.add_argument(
        "--dtype", choices=list(MEMORY_DTYPES), default="float32",
        help="autocast dtype of the forward for the memory estimate (default float32: no autocast)",
    )  # fmt: skip
    parser.add_argument("--channels-last", action="store_true", help="channels-last model and batch")
    parser.add_argument(
        "--device", choices=list(DEVICES), default="cpu",
        help="the device the memory is predicted for (default cpu; cuda: no oneDNN copies, the "
        "foreach optimizer step, and cuBLAS/cuDNN workspaces not included: see docs/memory.md)",
    )  # fmt: skip


def memory_setup(args: argparse.Namespace) -> MemorySetup:
    """The MemorySetup the memory flags describe, refusing flags that do not apply."""
    if args.batch is not None and args.batch < 1:
        raise OneByOneError(f"--batch must be 1 or more, got {args.batch}")
    if args.batch is not None and args.input_shape:
        raise OneByOneError("give the batch size with --batch or in --input-shape, not both")
    if args.optimizer is not None and not args.train:
        raise OneByOneError("--optimizer sets the training step's optimizer: add --train")
    dtype = MEMORY_DTYPES[args.dtype]
    return MemorySetup(
        optimizer=args.optimizer or "adamw",
        autocast=dtype,
        channels_last=args.channels_last,
        device=args.device,
    )


def with_batch(args: argparse.Namespace, shape: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` with --batch as its first size, when given."""
    return (args.batch, *shape[1:]) if args.batch is not None else shape


def caffe_input_size(args: argparse.Namespace) -> tuple[int, ...] | None:
    """(C, H, W) of --input or --input-shape, if given: the size a Caffe prototxt is built for."""
    if getattr(args, "input", None):
        return tuple(parse_input_shape(args.input)[-3:])
    if getattr(args, "input_shape", None):
        return tuple(parse_full_shape(args.input_shape)[-3:])
    return None


def input_size(args: argparse.Namespace, run: Run) -> tuple[int, int, int]:
    """(C, H, W): --input when given, else the run's or model's own."""
    if args.input:
        return tuple(parse_input_shape(args.input)[-3:])
    if run.input_size is None:
        raise OneByOneError(f"{run.name}: give the input size with --input CxHxW")
    return tuple(run.input_size)


def read_photo(args: argparse.Namespace, run: Run, path: str) -> Tensor:
    """(1, C, H, W) uint8: the photo at `path` at --input's size and channels (else the model's own)."""
    channels, height, width = input_size(args, run)
    return run.photo(path, (height, width), channels)


def full_input_shape(args: argparse.Namespace, run: Run) -> tuple[int, ...]:
    """Full input shape (batch first): --input-shape N,C,H,W, or --input CxHxW / the run's own, batch 1."""
    if args.input and getattr(args, "input_shape", None):
        raise OneByOneError("give --input or --input-shape, not both")
    if getattr(args, "input_shape", None):
        return parse_full_shape(args.input_shape)
    if args.input:
        dims = parse_input_shape(args.input)
        return dims if len(dims) == 4 else (1, *dims)
    if run.input_size is None:
        raise OneByOneError(f"{run.name}: give the input size with --input CxHxW or --input-shape N,C,H,W")
    return (1, *run.input_size)


def print_warnings(messages: list[str]) -> None:
    """Each warning a library result carries, as one line on stderr (the output stays clean)."""
    for message in messages:
        print(f"onebyone: warning: {' '.join(message.split())}", file=sys.stderr)
