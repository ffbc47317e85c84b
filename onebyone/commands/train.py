"""`onebyone train MODEL --data ...`: train a model on real data into a run folder.

Under `torchrun --nproc_per_node N -m onebyone train ...` the same command trains with
DistributedDataParallel, one shard of the data per rank, rank 0 writing the run folder.
"""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from onebyone.commands.arguments import parse_overrides
from onebyone.commands.common import add_overrides_argument
from onebyone.errors import OneByOneError
from onebyone.progress import add_progress_argument
from onebyone.records import json_text
from onebyone.tables import Column, print_table
from onebyone.train import TrainConfig, train
from onebyone.train.seeds import train_seeds
from onebyone.train.writer import resume_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on Fashion-MNIST, digits or an image folder",
        description="Train MODEL with the onebyone recipe (one-cycle SGD, label smoothing, bf16 autocast, "
        "channels_last); writes config.json, metrics.jsonl, checkpoints and model.safetensors to --out.",
    )
    parser.add_argument("model", metavar="MODEL", help="zoo name, path/to/file.py:factory or module:factory")
    parser.add_argument(
        "--data",
        default="fashion-mnist",
        metavar="DATA",
        help="fashion-mnist (default), digits, or folder:PATH (one sub-folder per class)",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="folder with Fashion-MNIST's four IDX files")
    parser.add_argument("--out", metavar="RUN_DIR", help="run folder to write (default: write nothing)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its checkpoint (or from its start, when it was stopped "
        "before one was saved); its settings hold, only --device, --stop-after-epoch, --lr (a new peak) "
        "and --no-progress may be given anew",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        default=None,
        help="start again in a --out that holds a training run, replacing its files",
    )
    add_overrides_argument(parser, "model option, e.g. --set width=0.5 (repeatable)")
    options = parser.add_argument_group("recipe (defaults: TrainConfig's)")
    options.add_argument("--epochs", type=int)
    options.add_argument("--batch-size", type=int)
    options.add_argument("--lr", type=float, help="peak learning rate of the one-cycle schedule")
    options.add_argument("--optimizer", choices=["sgd", "adamw"])
    options.add_argument("--weight-decay", type=float)
    options.add_argument("--label-smoothing", type=float)
    options.add_argument("--ema", dest="ema_decay", type=float, metavar="DECAY", help="EMA decay (0: off)")
    options.add_argument("--no-augment", dest="augment", action="store_false", default=None)
    options.add_argument("--erase", type=float, metavar="P", help="random-erasing probability per image")
    options.add_argument(
        "--tta-flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="test on each image and its mirror image, averaging the logits (default: on when "
        "training flips, i.e. unless --no-augment)",
    )
    options.add_argument("--val-size", type=int, help="images held out from training for validation")
    options.add_argument("--subset", type=int, metavar="N", help="train on the first N training images only")
    options.add_argument(
        "--test-size", type=int, metavar="N", help="evaluate on the first N test images only"
    )
    options.add_argument("--image-size", type=int, help="folder data: resize images to this side")
    running = parser.add_argument_group("how to run")
    running.add_argument("--device", choices=["cpu", "cuda", "auto"])
    running.add_argument("--precision", choices=["bf16", "fp32"])
    running.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=None)
    running.add_argument("--seed", type=int)
    running.add_argument(
        "--seeds",
        metavar="LIST",
        help="train once per seed (e.g. 0,1,2,3), seed N into RUN_DIR/seedN; with --grouped as one "
        "network grouped K ways (the same weights per seed; faster only where grouped convs are)",
    )
    running.add_argument(
        "--grouped", action="store_true", help="with --seeds: train all seeds at once as one grouped network"
    )
    running.add_argument("--deterministic", action="store_true", default=None)
    running.add_argument(
        "--stop-after-epoch",
        type=int,
        metavar="E",
        help="stop after epoch E as if interrupted (resume later with --resume)",
    )
    add_progress_argument(running)
    running.add_argument("--format", choices=["table", "json"], default="table", help="summary format")
    parser.set_defaults(func=run)
    recipe = TrainConfig()
    for action in parser._actions:  # --help shows the TrainConfig value a flag left out falls back to
        if action.default is None and action.dest in FIELDS:
            action.shown_default = getattr(recipe, action.dest)


FIELDS = (
    "data",
    "data_dir",
    "out",
    "resume",
    "overwrite",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "label_smoothing",
    "ema_decay",
    "augment",
    "erase",
    "tta_flip",
    "val_size",
    "subset",
    "test_size",
    "image_size",
    "device",
    "precision",
    "channels_last",
    "seed",
    "deterministic",
    "stop_after_epoch",
    "progress",
)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A TrainConfig from the command line: flags given override the recipe's defaults, or on
    --resume the run's own settings (so that only what was given is compared with them)."""
    given = {name: getattr(args, name) for name in FIELDS if getattr(args, name) is not None}
    if given.get("progress") is False:  # --no-progress: stage lines, not silence
        given["progress"] = "lines"
    given["model"] = args.model
    if args.overrides or not args.resume:
        given["model_overrides"] = parse_overrides(args.overrides)
    if args.resume and args.lr is not None:  # the saved recipe holds; a new peak lr is allowed
        given["resume_lr"] = given.pop("lr")
    if args.resume and args.out is not None:
        return resume_config(args.out, given)
    return TrainConfig(**given)


def refuse_unused(config: TrainConfig) -> TrainConfig:
    """`config`, unless a flag it was given does nothing for this data or these epochs."""
    config.validate()  # a value out of range is named as such first
    if config.image_size is not None and not config.data.startswith("folder:"):
        raise OneByOneError(f"--image-size resizes folder data (folder:PATH); {config.data} has its own size")
    if config.data_dir is not None and config.data != "fashion-mnist":
        raise OneByOneError(f"--data-dir is Fashion-MNIST's IDX folder; it does nothing for {config.data}")
    if config.stop_after_epoch is not None and config.stop_after_epoch > config.epochs:
        raise OneByOneError(
            f"--stop-after-epoch {config.stop_after_epoch} is past the last epoch ({config.epochs}): "
            "it would never stop the run"
        )
    return config


def parse_seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise OneByOneError(f"--seeds: expected a list like 0,1,2,3, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise OneByOneError(f"--seeds: expected seeds ≥ 0, got {text!r}")
    return seeds


def run(args: argparse.Namespace) -> int:
    if args.grouped and args.seeds is None:
        raise OneByOneError("--grouped trains several seeds at once: give them with --seeds")
    if args.seeds is not None:
        if args.seed is not None or args.resume:
            raise OneByOneError(
                "--seeds takes neither --seed nor --resume (resume a seed's folder RUN_DIR/seedN alone)"
            )
        config = refuse_unused(config_from_args(args))
        results = train_seeds(config, parse_seed_list(args.seeds), grouped=args.grouped)
        for result in results:
            show(result, args.format)
        return 0
    result = train(refuse_unused(config_from_args(args)))
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    show(result, args.format)
    return 0


def show(result, output_format: str) -> None:
    """Print one run's summary, as a table or as JSON."""
    summary = {
        "model": result.config.model,
        "parameters": result.parameters,
        "epochs": result.epochs_done,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "train_seconds": round(result.seconds, 1),
        "images_per_second": round(result.images_per_second, 1),
        "stopped_early": result.stopped_early,
        "run_dir": result.run_dir,
        "skipped_files": result.skipped,
    }
    if output_format == "json":
        print(json_text(summary, indent=2))
        return
    for line in result.skipped:
        print(f"onebyone: skipped unreadable image {line}", file=sys.stderr)
    summary["skipped_files"] = len(result.skipped)
    rows = []
    for key, value in summary.items():
        if isinstance(value, float) and "accuracy" in key:
            value = f"{value:.2%}"
        elif value is None:
            value = "—"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        rows.append([key.replace("_", " "), str(value)])
    columns = [Column("", "left", 1), Column("", "right", 0, "text")]
    print_table(Console(), f"onebyone train {result.config.model} on {result.config.data}", columns, rows)
