"""The rich progress bar of a training run (loss, accuracy, images/s, ETA), or nothing."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        return None

    def advance(self, task, loss: float, accuracy: float, images_per_second: float) -> None:
        return None

    def end_epoch(self, task, row: dict) -> None:
        return None


class _Bar(_Quiet):
    def __init__(self) -> None:
        self.console = Console(file=sys.stderr)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.2%}  {task.fields[ips]:,.0f} img/s"
            ),
            TimeRemainingColumn(),
            console=self.console,
        )

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def start_epoch(self, epoch: int, epochs: int, steps: int):
        return self.progress.add_task(f"epoch {epoch}/{epochs}", total=steps, loss=0.0, acc=0.0, ips=0.0)

    def advance(self, task, loss: float, accuracy: float, images_per_second: float) -> None:
        self.progress.update(task, advance=1, loss=loss, acc=accuracy, ips=images_per_second)

    def end_epoch(self, task, row: dict) -> None:
        val = row["val_accuracy"]
        self.progress.update(
            task, description=f"epoch {row['epoch']}" + (f" val {val:.2%}" if val is not None else "")
        )


def make_progress(enabled: bool):
    return _Bar() if enabled else _Quiet()
