"""`largest_batch`: the largest batch size whose predicted peak fits a memory budget.

Every candidate is a full simulation (memory.Simulator), so the answer is exact against the
predictions: peak(batch) ≤ budget < peak(batch + 1). The peak is nearly affine in the batch
(weights and optimizer state are fixed, activations grow with it), so the search follows lines:
first the line through batch 1 and 2, then the line through the batches that bracket the answer,
checking each guess and its neighbour; a step that does not halve the bracket is followed by a
bisection step, so the search also ends where the peak is far from a line. When the first line is
right it takes 4 simulations.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.memory.estimate import MemorySetup, Simulator
from onebyone.memory.results import BatchFit

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
    simulator = Simulator(model, setup or MemorySetup())
    sample = tuple(int(d) for d in sample_shape)
    peaks: dict[int, int] = {}

    def peak(batch: int) -> int:
        if batch not in peaks:
            peaks[batch] = simulator.run((batch, *sample), train=train).peak_bytes
        return peaks[batch]

    def meets(b0: int, b1: int) -> int:
        """The batch where the line through (b0, peak) and (b1, peak) reaches the budget."""
        rise = (peak(b1) - peak(b0)) / (b1 - b0)
        return MAX_BATCH if rise <= 0 else b0 + int((budget_bytes - peak(b0)) // rise)

    if peak(1) > budget_bytes:
        return _result(budget_bytes, 0, peaks, peak, train)
    fits, fails, before = 1, None, 2  # largest batch known to fit, smallest known not to, a second point
    bisect = False
    while fits < MAX_BATCH and (fails is None or fails - fits > 1):
        width = None if fails is None else fails - fits
        if fails is None:
            guess = min(MAX_BATCH, max(fits + 1, meets(min(fits, before), max(fits, before))))
        elif bisect:
            guess = (fits + fails) // 2
        else:
            guess = min(fails - 1, max(fits + 1, meets(fits, fails)))
        if peak(guess) <= budget_bytes:
            fits, before = guess, fits
            limit = MAX_BATCH + 1 if fails is None else fails
            if guess + 1 < limit:  # the line is usually right to the batch: its neighbour settles it
                if peak(guess + 1) > budget_bytes:
                    fails = guess + 1
                else:
                    fits, before = guess + 1, guess
        else:
            fails = guess
            if guess - 1 > fits and peak(guess - 1) <= budget_bytes:
                fits = guess - 1
        bisect = width is not None and fails is not None and (fails - fits) * 2 > width
    return _result(budget_bytes, fits, peaks, peak, train)


def _result(budget: int, batch: int, peaks: dict[int, int], peak, train: bool) -> BatchFit:
    return BatchFit(
        budget_bytes=budget,
        batch_size=batch,
        peak_bytes=peak(batch) if batch else None,
        next_peak_bytes=peak(batch + 1) if batch < MAX_BATCH else None,
        phase="training" if train else "inference",
        simulations=len(peaks),
    )
