"""Settings of `onebyone report`: seeds, the training recipe of the ablations, timing, device.

The ablation recipe (2,000 training images, 15 epochs, no augmentation, half width) was chosen on
validation images with seeds that no report uses; docs/report.md says how.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from onebyone.errors import OneByOneError

DEVICES = ("cpu", "cuda", "auto")


MAX_SEEDS = 64  # each trained variant is trained once per seed: 64 is already hours at the default recipe
MAX_SEED = 2**63 - 1  # what torch's generators take as a signed 64-bit seed (as train's --seed)


def parse_seeds(text: str) -> tuple[int, ...]:
    """`--seeds`: a count N (seeds 0 … N−1) or a comma-separated list ("3,4,5"; one seed: "7,"), of at
    most MAX_SEEDS distinct seeds from 0 to MAX_SEED."""
    parts = [part.strip() for part in str(text).split(",")]
    try:
        numbers = [int(part) for part in parts if part]
    except ValueError:
        raise OneByOneError(f"--seeds: expected a count or a list like 3,4,5, got {text!r}") from None
    if len(parts) == 1:
        if not 1 <= numbers[0] <= MAX_SEEDS:
            raise OneByOneError(f"--seeds: a count must be from 1 to {MAX_SEEDS}, got {numbers[0]}")
        return tuple(range(numbers[0]))
    return check_seeds(numbers, f"--seeds {text!r}")


def check_seeds(seeds, what: str = "seeds") -> tuple[int, ...]:
    """`seeds` as a tuple, refused unless 1 to MAX_SEEDS distinct integers from 0 to MAX_SEED."""
    seeds = tuple(seeds)
    if not seeds or len(seeds) > MAX_SEEDS:
        raise OneByOneError(f"{what}: give 1 to {MAX_SEEDS} seeds, got {len(seeds)}")
    if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds):
        raise OneByOneError(f"{what}: each seed must be an integer from 0 to {MAX_SEED:,}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise OneByOneError(
            f"{what}: seed {', '.join(map(str, repeated))} is given twice; seeds are distinct"
        )
    return seeds


@dataclass
class ReportConfig:
    """Defaults fit 6 minutes on 2 CPU cores; `quick_preset()` is the ≤ 1-minute variant for tests."""

    out: str = "onebyone-report"  # folder for report.html, report.md, figures/ and models/ (the cache)
    quick: bool = False
    seeds: tuple[int, ...] = (0, 1, 2, 3)  # every trained variant is trained once per seed
    # the ablation recipe (nin-fashion variants, ReportContext.VARIANTS)
    epochs: int = 15
    train_subset: int = 2000  # training images per model: few, so that an FC head can overfit
    width: float = 0.5  # width multiplier of the trained nin-fashion variants
    augment: bool = False  # crop + flip: off, so that overfitting shows
    test_size: int | None = None  # test images for accuracies and losses (None: all 10,000)
    eval_size: int = 500  # test images for sparsity, localisation and dense prediction (C9, C13, C14)
    # timing (C6, C8, C10): interleaved rounds, each the median of `latency_repeats` calls per module
    latency_batch: int = 8
    latency_rounds: int = 9
    latency_repeats: int = 3
    device: str = "auto"  # where to train and time: cpu, cuda, or auto (a GPU when one is present)
    workers: int = 0  # processes training models side by side (0: automatic, report.parallel.plan)
    # Inception 3a (C6): input channels and side, and the widths
    # (1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool proj)
    inception_in_channels: int = 192
    inception_side: int = 28
    inception_widths: tuple[int, int, int, int, int, int] = (64, 96, 128, 16, 32, 32)
    data_dir: str | None = None  # Fashion-MNIST IDX folder (default: the Debian package's)

    @classmethod
    def quick_preset(cls, **changes: Any) -> ReportConfig:
        """Two seeds, few images and epochs, quarter width: every claim measured in well under a minute.

        Verdicts of trained claims are mostly "not shown" at this budget; it exercises every path.
        """
        settings: dict[str, Any] = dict(
            quick=True,
            seeds=(0, 1),
            epochs=4,
            train_subset=1000,
            width=0.25,
            test_size=1000,
            eval_size=200,
            latency_rounds=3,
            latency_repeats=2,
        )
        settings.update(changes)
        return cls(**settings)

    def validate(self) -> ReportConfig:
        self.seeds = check_seeds(self.seeds)
        for name in (
            "epochs",
            "train_subset",
            "eval_size",
            "latency_batch",
            "latency_rounds",
            "latency_repeats",
        ):
            if getattr(self, name) < 1:
                raise OneByOneError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise OneByOneError(f"workers must be ≥ 0, got {self.workers}")
        if self.test_size is not None and self.test_size < 1:
            raise OneByOneError(f"test_size must be ≥ 1, got {self.test_size}")
        if self.width <= 0:
            raise OneByOneError(f"width must be > 0, got {self.width}")
        if self.device not in DEVICES:
            raise OneByOneError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if len(self.inception_widths) != 6 or min(self.inception_widths) < 1:
            raise OneByOneError(f"inception_widths must be six positive widths, got {self.inception_widths}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
