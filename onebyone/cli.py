"""The `onebyone` command line: a thin dispatcher over the library.

Each subcommand lives in `onebyone/commands/<name>.py` and exposes `register(subparsers)`,
which adds its parser and sets `func(args) -> int`. Bad input (an OneByOneError, or a
malformed option) becomes one line on stderr and exit code 2, never a traceback; a message that
spans lines is joined into one. Anything else is a bug (or a case not handled yet): one line saying
so and how to see the traceback (ONEBYONE_TRACEBACK=1), and exit code 1 — not 2, so a bug is never
mistaken for bad input.

What the surroundings do is not a bug either (docs/robustness.md, "Outputs, flags and signals"):
SIGTERM ends a command as Ctrl-C does (one line, locks released, nothing half-written; exit 143, and
130 for Ctrl-C); a full disk or a failing output (`> /dev/full`) is one line and exit 2; an output
encoding without ×, ≥ or → (PYTHONIOENCODING=ascii, LANG=C) gets ASCII stand-ins instead of a crash.
An empty value (`--out ""`) is refused, as argparse refuses a malformed one.
With `--format json` an error is also written to stdout as {"error": "<the line>", "exit_code": N},
so a script reading stdout always gets JSON.
"""

from __future__ import annotations

import argparse
import codecs
import copy
import errno
import importlib
import os
import signal
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


# OSError numbers that mean the output could not be written, not that onebyone is wrong.
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}
# What an encoding without these characters shows instead (anything else: "?").
ASCII_STAND_INS = {"×": "x", "≥": ">=", "≤": "<=", "→": "->", "←": "<-", "−": "-", "–": "-", "—": "-",
                   "…": "...", "·": ".", "²": "^2", "³": "^3", "⁹": "^9", "±": "+-", "≈": "~", "µ": "u",
                   "‘": "'", "’": "'", "“": '"', "”": '"', "✓": "ok", "✗": "x"}  # fmt: skip


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it unwinds as Ctrl-C does (locks released)."""


def _ascii_stand_in(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error  # registered for the output streams only (reconfigure below), which only encode
    text = error.object[error.start : error.end]
    return "".join(ASCII_STAND_INS.get(c, "?") for c in text), error.end


codecs.register_error("onebyone-ascii", _ascii_stand_in)


def _degrade_output_encoding() -> None:
    """Streams that cannot encode × and friends write ASCII stand-ins instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding and not encoding.startswith("utf") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="onebyone-ascii")


def _terminate(signum, frame) -> None:
    raise Terminated()


class DefaultsFormatter(argparse.HelpFormatter):
    """--help shows each option's default, for every command at once: " (default: X)" after the help
    of an option that takes a value whose default is one (not None or empty) and whose help does not
    say it already; flags (store_true/false) are off unless given and show none."""

    @staticmethod
    def _shown(action: argparse.Action) -> object:
        """The default to show, or None: only for options that take a value and have one."""
        # `shown_default`: what a None default stands for (train's flags fall back to TrainConfig's)
        default = getattr(action, "shown_default", action.default)
        if not action.option_strings or action.nargs == 0:
            return None
        if (
            default is None
            or default is argparse.SUPPRESS
            or (isinstance(default, (str, list)) and not default)
        ):
            return None
        return default

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = self._shown(action)
        if default is None or "%(default)" in text or "default" in text.lower():
            return text
        return f"{text} (default: {str(default).replace('%', '%%')})"

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._shown(action) is not None:  # argparse prints no help line at all
            action = copy.copy(action)
            action.help = f"(default: {str(self._shown(action)).replace('%', '%%')})"
        return super()._format_action(action)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a malformed command line as one line and exit code 2, and lists
    defaults in --help (`DefaultsFormatter`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        line = f"{self.prog}: error: {one_line(message)} (see --help)"
        print(line, file=sys.stderr)
        raise UsageError(line)


class UsageError(SystemExit):
    """A malformed command line (argparse's errors, an empty value): exit code 2, its one line kept so
    that `main` can also print it as JSON when the line asks for `--format json`."""

    def __init__(self, line: str) -> None:
        super().__init__(2)
        self.line = line


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
    _degrade_output_encoding()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        empty = _empty_option(parser, args) if args.command is not None else None
        if empty:
            parser.error(f"{empty}: the value is empty")
    except UsageError as exc:  # argparse has printed the one line; a script asking for JSON gets it too
        if _asks_for_json(sys.argv[1:] if argv is None else argv):
            _print_json_error(exc.line, 2)
        raise
    if args.command is None:
        parser.print_help()
        return 2
    previous = _catch_sigterm()
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a failing stdout (> /dev/full) fails here, not silently at exit
        return code
    except OneByOneError as exc:
        return report_error(args, f"onebyone: error: {one_line(str(exc))}", 2)
    except Terminated:
        return report_error(args, "onebyone: terminated", 143)
    except KeyboardInterrupt:
        return report_error(args, "onebyone: interrupted", 130)
    except BrokenPipeError:
        # The reader went away (`onebyone profile ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # rich's own answer to it: exit 1, stdout dropped
            return 141
        raise
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            return _internal_error(args, exc)
        _drop_stdout_if_failing()
        where = f" {exc.filename}" if exc.filename else ""
        return report_error(args, f"onebyone: error: cannot write{where}: {exc.strerror or exc}", 2)
    except Exception as exc:
        return _internal_error(args, exc)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _internal_error(args: argparse.Namespace, exc: Exception) -> int:
    if os.environ.get(TRACEBACK_VARIABLE):
        raise exc
    line = (
        f"onebyone: internal error: {type(exc).__name__}: {one_line(str(exc))} (a bug, or a case "
        f"onebyone does not handle yet; {TRACEBACK_VARIABLE}=1 shows the traceback to report)"
    )
    return report_error(args, line, 1)


def report_error(args: argparse.Namespace, line: str, exit_code: int) -> int:
    """The error as one line on stderr; with --format json also as a JSON object on stdout."""
    print(line, file=sys.stderr)
    if getattr(args, "format", None) == "json":
        _print_json_error(line, exit_code)
    return exit_code


def _print_json_error(line: str, exit_code: int) -> None:
    from onebyone.records import json_text

    try:
        print(json_text({"error": line, "exit_code": exit_code}, indent=None), flush=True)
    except (BrokenPipeError, OSError):  # stdout gone: the stderr line is all there is
        pass


def _asks_for_json(argv: list[str]) -> bool:
    """Whether a command line argparse refused asks for `--format json` (`--format=json`, or a prefix
    argparse accepts, `--form json`; the last one given, as argparse keeps): what main can tell
    without the parsed arguments."""
    chosen = ""
    for index, token in enumerate(argv):
        if token == "--":
            break
        name, equals, value = token.partition("=")
        if len(name) >= 3 and "--format".startswith(name):
            chosen = value if equals else (argv[index + 1] if index + 1 < len(argv) else "")
    return chosen == "json"


def _catch_sigterm():
    """Handle SIGTERM as Terminated (main thread only); the previous handler, to restore."""
    try:
        return signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals are not ours to take
        return None


def _drop_stdout_if_failing() -> None:
    """When stdout itself fails, point it at /dev/null, so the exit-time flush does not fail again."""
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _empty_option(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The first option (of the chosen command) given an empty string, as the user wrote it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            found = _empty_option(chosen, args) if chosen is not None else None
            if found:
                return found
            continue
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and v == "" for v in values):
            metavar = action.metavar if isinstance(action.metavar, str) else None  # a tuple: nargs > 1
            return "/".join(action.option_strings) or metavar or action.dest
    return None


def one_line(message: str) -> str:
    """A message as one line: its lines joined by "; " (nothing dropped)."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
