"""Wall-clock timing of a callable: the one timer the benchmarks, compression and the report share."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


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
