"""The NaN/Inf guard: a diverged run stops with one line, and nothing non-finite is ever saved.

The loss is checked at every step (before the weights change); the weights, the optimizer state
and the EMA at the end of every epoch, before the checkpoint is written.
"""

from __future__ import annotations

import torch
from torch import Tensor

from onebyone.errors import OneByOneError


class TrainingDiverged(OneByOneError):
    """The loss or the weights stopped being finite; the last good checkpoint is kept."""

    def __init__(self, what: str, epoch: int, step: int, lr: float, kept: str = "") -> None:
        self.what, self.epoch, self.step, self.lr = what, epoch, step, lr
        super().__init__(
            f"training diverged: {what} at epoch {epoch + 1}, step {step} (lr {lr:.3g}); try a lower --lr"
            + (f"; {kept}" if kept else "")
        )

    def keeping(self, kept: str) -> TrainingDiverged:
        """The same error, saying which checkpoint survives."""
        return TrainingDiverged(self.what, self.epoch, self.step, self.lr, kept)


def nonfinite_tensors(groups: dict[str, dict[str, Tensor]]) -> list[str]:
    """The "group/name" of every floating-point tensor holding a NaN or an infinity."""
    return [
        f"{group}/{name}"
        for group, named in groups.items()
        for name, tensor in named.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]


def check_finite(groups: dict[str, dict[str, Tensor]], epoch: int, step: int, lr: float) -> None:
    """Raise TrainingDiverged when any tensor of `groups` (model, optimizer, EMA) is not finite."""
    bad = nonfinite_tensors(groups)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise TrainingDiverged(f"{len(bad)} tensor(s) hold NaN or Inf ({shown})", epoch, step, lr)
