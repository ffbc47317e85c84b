"""`largest_batch`: the largest batch size whose predicted peak fits a memory budget.

Every candidate is a full simulation (memory.simulate), so the answer is exact against the
predictions: peak(batch) ≤ budget < peak(batch + 1). The search starts where a straight line
through batch 1 and batch 2 meets the budget (the peak is nearly affine in the batch: weights and
optimizer state are fixed, activations grow with it), checks that guess and its neighbour, and
falls back to doubling and bisection when the line was off; it takes 4 simulations when the line
is right.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from onebyone.analysis.memory import MemorySetup, simulate
from onebyone.analysis.memory_results import BatchFit
from onebyone.errors import OneByOneError

MAX_BATCH = 1 << 24  # the search stops here and says so (next_peak_bytes is None)


def largest_batch(
    model: nn.Module,
    sample_shape: Sequence[int],
    budget_bytes: int,
    setup: MemorySetup | None = None,
    *,
    train: bool = True,
) -> BatchFit:
    """The largest batch of `sample_shape` samples (C, H, W) whose predicted peak ≤ `budget_bytes`."""
    if not isinstance(budget_bytes, int) or isinstance(budget_bytes, bool) or budget_bytes <= 0:
        raise OneByOneError(f"the memory budget must be a positive number of bytes, got {budget_bytes!r}")
    setup = setup or MemorySetup()
    sample = tuple(int(d) for d in sample_shape)
    peaks: dict[int, int] = {}

    def peak(batch: int) -> int:
        if batch not in peaks:
            peaks[batch] = simulate(model, (batch, *sample), setup, train=train).peak_bytes
        return peaks[batch]

    def result(batch: int) -> BatchFit:
        return BatchFit(
            budget_bytes=budget_bytes,
            batch_size=batch,
            peak_bytes=peak(batch) if batch else None,
            next_peak_bytes=peak(batch + 1) if batch < MAX_BATCH else None,
            phase="training" if train else "inference",
            simulations=len(peaks),
        )

    if peak(1) > budget_bytes:
        return result(0)
    slope = peak(2) - peak(1)
    if slope <= 0:
        guess = MAX_BATCH
    else:
        guess = min(MAX_BATCH, max(1, 1 + (budget_bytes - peak(1)) // slope))
    fits, fails = 1, None  # largest batch known to fit, smallest known not to
    if peak(guess) <= budget_bytes:
        fits = guess
        step = 1
        while fits < MAX_BATCH:  # up: the neighbour first, then doubling steps
            trial = min(MAX_BATCH, fits + step)
            if peak(trial) > budget_bytes:
                fails = trial
                break
            fits, step = trial, step * 2
    else:
        fails = guess
        trial = guess - 1
        if peak(trial) <= budget_bytes:
            fits = trial
        else:
            fails = trial
    if fails is None:
        return result(MAX_BATCH)
    while fails - fits > 1:  # bisection between a batch that fits and one that does not
        middle = (fits + fails) // 2
        if peak(middle) <= budget_bytes:
            fits = middle
        else:
            fails = middle
    return result(fits)
