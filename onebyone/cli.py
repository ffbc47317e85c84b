"""The `onebyone` command line: a thin dispatcher over the library.

Each subcommand lives in `onebyone/commands/<name>.py` and exposes `register(subparsers)`,
which adds its parser and sets `func(args) -> int`. Bad input (an OneByOneError, or a
malformed option) becomes one line on stderr and exit code 2, never a traceback; a message that
spans lines is joined into one. Anything else is a bug (or a case not handled yet): one line saying
so and how to see the traceback (ONEBYONE_TRACEBACK=1), and exit code 1 — not 2, so a bug is never
mistaken for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from onebyone import __version__
from onebyone.errors import OneByOneError

TRACEBACK_VARIABLE = "ONEBYONE_TRACEBACK"  # set (non-empty): let unexpected exceptions raise
# Subcommand modules, in the order `onebyone --help` lists them.
COMMAND_MODULES = [
    "report",
    "models",
    "profile",
    "compare",
    "bench",
    "optimize",
    "export",
    "compress",
    "convert",
    "train",
    "eval",
    "inspect",
    "predict",
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
        print(f"onebyone: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("onebyone: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`onebyone profile ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        print(
            f"onebyone: internal error: {type(exc).__name__}: {one_line(str(exc))} (a bug, or a case "
            f"onebyone does not handle yet; {TRACEBACK_VARIABLE}=1 shows the traceback to report)",
            file=sys.stderr,
        )
        return 1


def one_line(message: str) -> str:
    """A message as one line: its lines joined by "; " (nothing dropped)."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
