"""Train the report's models in parallel worker processes, one torch thread each.

The ablation models are small (a few 100k MACs per image): a second thread speeds one training run
up far less than a second run beside it does, and on a machine that other work shares, two threads
that wait for each other stall whenever either core is taken. So on the CPU the report trains
`workers` models at a time, each in its own process with `threads` threads, into the model cache
(report.cache: complete folders only); the report's own process then loads them from there.
Workers are started fresh (spawn) and die with the report's process.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

from onebyone.report.config import ReportConfig

MAX_AUTO_WORKERS = 4  # each worker holds torch and the data set: ~0.4 GiB


def plan(requested: int, device_type: str, models: int) -> tuple[int, int]:
    """(workers, threads per worker) for `models` trainings; `requested` 0 means automatic.

    Automatic: one worker per CPU core (at most MAX_AUTO_WORKERS, at most one per model) with the
    cores shared out; on a GPU one, in the report's own process (workers = 1).
    """
    cores = os.cpu_count() or 1
    if requested == 0:
        requested = 1 if device_type == "cuda" else min(MAX_AUTO_WORKERS, cores)
    workers = max(1, min(requested, models))
    return workers, max(1, cores // workers)


def _die_with_parent() -> None:
    """Linux: have the kernel kill this process when the report's process dies (a killed report
    must not leave trainings running)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _start_worker(threads: int) -> None:
    import torch

    _die_with_parent()
    torch.set_num_threads(threads)


def train_in_parallel(
    train_one: Callable[[ReportConfig, str, int], float | None],
    config: ReportConfig,
    jobs: list[tuple[str, int]],
    workers: int,
    threads: int,
    on_done: Callable[[str, int, float | None], None],
) -> None:
    """Train every (variant, seed) in `jobs` into the cache, `workers` at a time.

    `train_one(config, variant, seed)` runs in a worker: it trains one model into the cache and
    returns its training time (None when the cache had it). It must be a module-level function, which
    the worker imports by name (report.context.train_one), so this module imports no context.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(threads,)
    ) as pool:
        futures = {pool.submit(train_one, config, variant, seed): (variant, seed) for variant, seed in jobs}
        for future in as_completed(futures):
            variant, seed = futures[future]
            on_done(variant, seed, future.result())
