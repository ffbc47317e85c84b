"""A training run's progress through `onebyone.progress`: a bar per epoch (loss, accuracy, images/s)
under a bar for the whole run with its estimate of the time left; on a pipe, one line per epoch
with the same estimate. `progress=False` (a library caller such as the report): nothing."""

from __future__ import annotations

from onebyone.progress import Progress, clock_text


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


class _Shown(_Quiet):
    def __init__(self, live: bool | None, first_epoch: int, epochs: int, steps: int) -> None:
        self.progress = Progress("train", live=live, total=(epochs - first_epoch) * steps)
        self.first_epoch, self.epochs, self.steps = first_epoch, epochs, steps

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def start_epoch(self, epoch: int, epochs: int, steps: int):
        if self.progress.live:
            self.progress.stage(f"epoch {epoch}/{epochs}", total=steps)
        return epoch

    def advance(self, task, loss: float, accuracy: float, images_per_second: float) -> None:
        if self.progress.live:
            speed = f"{images_per_second:,.0f} img/s"
            self.progress.detail(f"epoch {task}/{self.epochs} loss {loss:.4f} acc {accuracy:.2%} {speed}")
            self.progress.advance()

    def end_epoch(self, task, row: dict) -> None:
        done = row["epoch"] - self.first_epoch
        left = self.progress.elapsed / done * (self.epochs - row["epoch"])
        val = row["val_accuracy"]
        self.progress.line(
            f"epoch {row['epoch']}/{self.epochs}: loss {row['train_loss']:.4f}, "
            f"train {row['train_accuracy']:.2%}"
            + (f", val {val:.2%}" if val is not None else "")
            + f", {row['images_per_second']:,.0f} img/s; whole run: about {clock_text(left)} left"
        )


def make_progress(enabled: bool | str, first_epoch: int = 0, epochs: int = 1, steps: int = 1):
    """`enabled`: True (a bar on a terminal, lines elsewhere), "lines", or False (nothing)."""
    if enabled is False:
        return _Quiet()
    return _Shown(None if enabled is True else False, first_epoch, epochs, steps)
