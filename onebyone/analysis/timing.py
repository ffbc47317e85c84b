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
    return statistic(times)
