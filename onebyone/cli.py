"""The `onebyone` command line: a thin dispatcher over the library.

Each subcommand lives in `onebyone/commands/<name>.py` and exposes `register(subparsers)`,
which adds its parser and sets `func(args) -> int`. Bad input (an OneByOneError, or a
malformed option) becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from onebyone import __version__
from onebyone.errors import OneByOneError

# Subcommand modules, in the order `onebyone --help` lists them.
COMMAND_MODULES = [
    "report", "models", "profile", "compare", "bench", "export", "compress", "convert", "train", "eval",
    "inspect", "predict",
]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a malformed command line as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="onebyone",
        description="Make the 1x1 convolution measurable: build, measure, train, inspect and "
        "change CNNs, and reproduce the claims about 1x1 convolutions.",
    )
    parser.add_argument("--version", action="version", version=f"onebyone {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"onebyone.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except OneByOneError as exc:
        print(f"onebyone: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("onebyone: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`onebyone profile ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
