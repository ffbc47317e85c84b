"""Wall-clock timing of a callable: the one timer the benchmarks, compression and the report share."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from onebyone.errors import OneByOneError

# A median of more repeats is no more accurate, only longer; beyond this a count is a typo.
MAX_REPEATS = 1000


def check_repeats(repeats: int, warmup: int = 0) -> None:
    """Refuse a repeat count outside 1..MAX_REPEATS (or a negative warm-up) in one line."""
    if not 1 <= repeats <= MAX_REPEATS:
        raise OneByOneError(f"repeats must be from 1 to {MAX_REPEATS:,}, got {repeats:,}")
    if not 0 <= warmup <= MAX_REPEATS:
        raise OneByOneError(f"warm-up runs must be from 0 to {MAX_REPEATS:,}, got {warmup:,}")


def median_seconds(
    fn: Callable[[], object],
    *,
    warmup: int = 2,
    repeats: int = 7,
    statistic: Callable = statistics.median,
    sync: Callable[[], object] | None = None,
) -> float:
    """Median (or `statistic`) wall time of `fn()` over `repeats` calls after `warmup` untimed ones.

    `sync` waits for asynchronous work (e.g. torch.cuda.synchronize) before each clock reading.
    """
    return statistic(sample_seconds(fn, warmup=warmup, repeats=repeats, sync=sync))


def sample_seconds(
    fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7, sync: Callable[[], object] | None = None
) -> list[float]:
    """Wall time of each of `repeats` calls of `fn()`, after `warmup` untimed ones."""
    check_repeats(repeats, warmup)
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def quartiles(times: list[float]) -> tuple[float, float]:
    """(first, third) quartile of `times`, both the one value for a single time; their difference is
    the interquartile range, the spread of the middle half."""
    if len(times) < 2:
        return times[0], times[0]
    first, _, third = statistics.quantiles(times, n=4, method="inclusive")
    return first, third


def interleaved_seconds(
    fns: dict[str, Callable[[], object]],
    *,
    rounds: int = 7,
    warmup: int = 2,
    repeats: int = 3,
    sync: Callable[[], object] | None = None,
) -> dict[str, list[float]]:
    """Per-round median wall time of each callable, the callables taking turns call by call.

    A round makes `repeats` passes; each pass calls every callable once, in an order that rotates
    from pass to pass, so a change in machine load hits all of them alike. Ratios taken round by
    round (`times["a"][i] / times["b"][i]`) then carry the spread that the load causes.
    """
    if rounds < 1 or repeats < 1:
        raise OneByOneError(f"rounds and repeats must be ≥ 1, got {rounds} and {repeats}")
    sync = sync or (lambda: None)
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    turn = 0
    for _ in range(rounds):
        calls: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(repeats):
            shift, turn = turn % len(names), turn + 1
            for name in names[shift:] + names[:shift]:
                sync()
                start = time.perf_counter()
                fns[name]()
                sync()
                calls[name].append(time.perf_counter() - start)
        for name in names:
            times[name].append(statistics.median(calls[name]))
    return times
