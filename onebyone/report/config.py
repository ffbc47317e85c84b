"""Settings of `onebyone report`: how much to train and time, and the inputs of the measured blocks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from onebyone.errors import OneByOneError


@dataclass
class ReportConfig:
    """Defaults fit the 10-minute budget on 2 CPU cores; `quick()` is the ≤ 2-minute variant."""

    out: str = "onebyone-report"  # folder for report.html, report.md, figures/ and models/ (the cache)
    quick: bool = False
    seeds: int = 2  # trained ablations (C3, C5) are repeated with seeds 0 … seeds-1
    epochs: int = 4  # per trained model
    train_subset: int | None = 15000  # training images per model (None: the whole training split)
    width: float = 1.0  # width multiplier of the trained nin-fashion models
    test_size: int | None = None  # test images for accuracies (None: all 10,000)
    eval_size: int = 2000  # test images for sparsity and localisation (C13, C14, C9)
    latency_batch: int = 8  # batch of the timed blocks (C6, C8, C10)
    latency_repeats: int = 7  # timed repeats (median) after warm-up
    # Inception 3a (C6): input channels and side, and the widths
    # (1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool proj)
    inception_in_channels: int = 192
    inception_side: int = 28
    inception_widths: tuple[int, int, int, int, int, int] = (64, 96, 128, 16, 32, 32)
    data_dir: str | None = None  # Fashion-MNIST IDX folder (default: the Debian package's)
    progress: bool = True

    @classmethod
    def quick_preset(cls, **changes) -> ReportConfig:
        """Small subsets and a half-width model: every claim measured in well under 2 minutes."""
        settings = dict(
            quick=True,
            seeds=1,
            epochs=3,
            train_subset=3000,
            width=0.5,
            test_size=1000,
            eval_size=300,
            latency_batch=2,
            latency_repeats=3,
        )
        settings.update(changes)
        return cls(**settings)

    def validate(self) -> ReportConfig:
        for name in ("seeds", "epochs", "eval_size", "latency_batch", "latency_repeats"):
            if getattr(self, name) < 1:
                raise OneByOneError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("train_subset", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OneByOneError(f"{name} must be ≥ 1, got {value}")
        if self.width <= 0:
            raise OneByOneError(f"width must be > 0, got {self.width}")
        if len(self.inception_widths) != 6 or min(self.inception_widths) < 1:
            raise OneByOneError(f"inception_widths must be six positive widths, got {self.inception_widths}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
