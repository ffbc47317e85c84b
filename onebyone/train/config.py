"""The one configuration object of a training run, passed whole from the CLI to the loop."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from onebyone.data.registry import get_dataset
from onebyone.errors import OneByOneError
from onebyone.files import atomic_write_text
from onebyone.models.options import is_plain_mapping, value_fits

CONFIG_SCHEMA_VERSION = 1


@dataclass
class TrainConfig:
    """Everything that decides a run. `config.json` in the run folder is this, resolved.

    Defaults are the intended `nin-fashion` recipe. bf16 autocast + channels_last is the default
    because it was the faster of the four precision/layout pairs when the machine was quiet. The
    accuracy and minutes of this recipe on 2 cores are in the README.
    """

    # what to train on what
    model: str = "nin-fashion"  # zoo name, file.py:factory or module:factory
    model_overrides: dict = field(default_factory=dict)  # builder keywords, e.g. {"width": 0.5}
    data: str = "fashion-mnist"  # "fashion-mnist", "digits" or "folder:PATH"
    data_dir: str | None = None  # Fashion-MNIST's IDX folder (default: the Debian package's)
    image_size: int | None = None  # folder data only: side to resize to (None: the model's)
    val_size: int | None = None  # held out from training; None: 5000 for Fashion-MNIST, else 10%
    subset: int | None = None  # use only the first N training images (after the split), for tests
    test_size: int | None = None  # evaluate on the first N test images only (None: all), for tests
    # the recipe
    epochs: int = 13  # 13 × ~40 s on 2 quiet cores (~1,350 img/s): inside the 10-minute budget
    batch_size: int = 128
    optimizer: str = "sgd"  # "sgd" (Nesterov momentum) or "adamw"
    lr: float = 0.1  # peak of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_fraction: float = 0.2  # share of the steps spent rising to the peak
    final_lr_fraction: float = 0.0  # lr at the last step, as a fraction of the peak
    label_smoothing: float = 0.1
    ema_decay: float = 0.0  # exponential moving average of the weights; 0 turns it off
    augment: bool = True  # random crop with padding + horizontal flip, on whole batches
    crop_padding: int = 2
    hflip: bool = True
    erase: float = 0.0  # random-erasing probability per image (0: off)
    # Test (and `onebyone eval`) on each image and its mirror image, averaging the logits; the
    # per-epoch validation stays plain. None: on when the training augmentation flips.
    tta_flip: bool | None = None
    mean: float | None = None  # input normalisation; None: measured on the training split
    std: float | None = None
    # how to run it
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    precision: str = "bf16"  # "bf16" (autocast) or "fp32"
    channels_last: bool = True
    seed: int = 0
    deterministic: bool = False
    out: str | None = None  # run folder; None: nothing is written
    resume: bool = False
    resume_lr: float | None = None  # on resume, a new peak lr (the usual answer to a divergence)
    stop_after_epoch: int | None = None  # end the process after this epoch (as if interrupted)
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Check every field against what it may be; bad values raise OneByOneError."""
        choices = {
            "optimizer": ("sgd", "adamw"),
            "precision": ("bf16", "fp32"),
            "device": ("cpu", "cuda", "auto"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise OneByOneError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}
        for name, value in positive.items():
            if not value > 0:
                raise OneByOneError(f"{name} must be > 0, got {value}")
        if self.subset is not None and self.subset < 1:
            raise OneByOneError(f"subset must be ≥ 1, got {self.subset}")
        if self.test_size is not None and self.test_size < 1:
            raise OneByOneError(f"test_size must be ≥ 1, got {self.test_size}")
        if self.val_size is not None and self.val_size < 0:
            raise OneByOneError(f"val_size must be ≥ 0, got {self.val_size}")
        for name in ("warmup_fraction", "final_lr_fraction", "label_smoothing", "ema_decay", "erase"):
            if not 0 <= getattr(self, name) < 1:
                raise OneByOneError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.weight_decay < 0 or self.momentum < 0:
            raise OneByOneError("weight_decay and momentum must be ≥ 0")
        get_dataset(self.data)  # an unknown name or a missing argument raises
        if self.resume and self.out is None:
            raise OneByOneError("resume needs a run folder (--out)")
        if self.stop_after_epoch is not None and self.stop_after_epoch < 1:
            raise OneByOneError(f"stop_after_epoch must be ≥ 1, got {self.stop_after_epoch}")
        self.tta_flip = self.test_time_flip
        return self

    @property
    def test_time_flip(self) -> bool:
        """Whether the test averages each image with its mirror image (`tta_flip`, resolved)."""
        return self.tta_flip if self.tta_flip is not None else self.augment and self.hflip

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        if not isinstance(data, dict):
            raise OneByOneError(f"a training configuration is a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OneByOneError(f"unknown training option(s) {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            plain = is_plain_mapping(value) if isinstance(value, dict) else True
            if not (plain and value_fits(value, hints[name])):
                raise OneByOneError(f"training option {name} has the wrong type: {value!r:.80}")
        return cls(**data)


def write_config(path: Path, config: TrainConfig) -> None:
    payload = {"schema_version": CONFIG_SCHEMA_VERSION, "config": config.to_dict()}
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


def read_config(path: Path) -> TrainConfig:
    if not path.is_file():
        raise OneByOneError(f"{str(path.parent)!r} is not a training run (no {path.name})")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return TrainConfig.from_dict(payload["config"])
    except (ValueError, KeyError, TypeError, OSError) as exc:  # JSON, UTF-8, shape or type errors
        raise OneByOneError(f"{str(path)!r}: unreadable run configuration ({exc})") from exc
