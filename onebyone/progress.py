"""Progress of long work, in one place: a live bar on a terminal, one line per stage anywhere else.

Every command whose work can take more than a couple of seconds reports through `Progress`:

- on a terminal (stderr is a TTY), a rich display on stderr: the current stage with its own bar and
  estimate, and, when the whole of the work is known in steps (a training run's epochs × batches,
  a report's claims), a bar for the whole with its estimate of the time left;
- on a pipe, in a log, or with --no-progress: one line per stage on stderr,
  `onebyone eval: predicting 10,000 test images [0:03]`, the bracket being the time so far. A
  stage's line is written once it has run for SHOW_AFTER seconds (ONEBYONE_PROGRESS_AFTER sets
  another delay; 0 writes every line at once): work that ends sooner, or a mistake found at once,
  leaves stderr as it was (a user error stays one line).

Never stdout: that carries the result (a table or JSON), which must stay clean for pipes.
Library code takes a plain `Callable[[str], None]` (a stage's name); `Progress.stage` is one.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as _Rich

SHOW_AFTER = 2.0  # seconds a stage runs before its line is written
DELAY_VARIABLE = "ONEBYONE_PROGRESS_AFTER"


def clock_text(seconds: float) -> str:
    """'0:42', '12:05', '1:02:03'."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _delay() -> float:
    try:
        return float(os.environ.get(DELAY_VARIABLE, SHOW_AFTER))
    except ValueError:
        return SHOW_AFTER


def _write(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Progress:
    """`with Progress("eval") as progress: progress.stage("predicting", total=n); progress.advance()`

    `live`: True draws the bar, False writes stage lines, None decides by whether stderr is a terminal.
    `total`: steps of the whole work, for a bar and estimate of the whole (advanced by `advance`).
    """

    def __init__(self, command: str, *, live: bool | None = None, total: int | None = None) -> None:
        self.command = command
        self.console = Console(file=sys.stderr)
        self.live = self.console.is_terminal if live is None else live
        self.started = time.perf_counter()
        self._bar: _Rich | None = None
        self._whole = self._task = None
        self._total = total
        self._pending: threading.Timer | None = None

    def __enter__(self) -> Progress:
        self.started = time.perf_counter()
        if self.live:
            self._bar = _Rich(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.__enter__()
            if self._total is not None:
                self._whole = self._bar.add_task(f"{self.command}: all", total=self._total)
        return self

    def __exit__(self, *exc) -> None:
        self._cancel()
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def _text(self, message: str) -> str:
        return f"onebyone {self.command}: {message} [{clock_text(self.elapsed)}]"

    def _cancel(self) -> None:
        """The line of a stage that ended before its delay is not written."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def stage(self, message: str, total: int | None = None) -> None:
        """Begin a stage (ending the one before): its line on a pipe, its bar on a terminal."""
        if self._bar is None:
            self._cancel()
            delay = _delay()
            if delay <= 0:
                _write(self._text(message))
            else:
                self._pending = threading.Timer(delay, _write, (self._text(message),))
                self._pending.daemon = True
                self._pending.start()
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(message, total=total)

    def detail(self, message: str) -> None:
        """What the current stage is doing now: the bar's text on a terminal; nothing on a pipe."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=message)

    def advance(self, steps: int = 1, *, whole: int | None = None) -> None:
        """`steps` more of the current stage done, and `whole` (default: the same) of the whole."""
        if self._bar is None:
            return
        if self._task is not None:
            self._bar.advance(self._task, steps)
        if self._whole is not None:
            self._bar.advance(self._whole, steps if whole is None else whole)

    def line(self, message: str) -> None:
        """A line that stays (an epoch's summary): above the bar on a terminal, on stderr elsewhere."""
        if self._bar is None:
            _write(self._text(message))
        else:
            self._bar.console.print(message, highlight=False)


def add_progress_argument(parser) -> None:
    """--no-progress: stage lines on stderr instead of a live bar (what a pipe gets anyway)."""
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="no live progress bar: one line per stage on stderr instead (as on a pipe)",
    )


def progress_for(args, command: str, total: int | None = None) -> Progress:
    """The Progress of a command: live on a terminal unless --no-progress was given."""
    live = False if getattr(args, "progress", None) is False else None
    return Progress(command, live=live, total=total)
