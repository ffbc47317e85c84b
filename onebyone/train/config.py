"""The one configuration object of a training run, passed whole from the CLI to the loop."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

from onebyone.data.registry import get_dataset
from onebyone.errors import OneByOneError
from onebyone.files import atomic_write_text
from onebyone.models.loading import resolved_spec
from onebyone.models.options import is_plain_mapping, value_fits
from onebyone.records import check_version, json_text, read_json

CONFIG_SCHEMA_VERSION = 1
MAX_COUNT = 2**31 - 1  # epochs, images, batch size: far beyond any run, far below an overflow
MAX_SEED = 2**63 - 1  # what torch's generators take as a signed 64-bit seed
MAX_PATH = 4096  # characters in a model spec, data spec or path (Linux's PATH_MAX)
MAX_FLOAT32 = 3.4028234663852886e38  # float32's largest: the largest lr torch's optimizers hold
MAX_IMAGE_SIZE = 1024  # side of an image-folder image; 60,000 RGB images of 1024² are 190 GB

# (lowest, highest) value of each integer field; a field that may be None is checked when set.
_INT_RANGES = {
    "epochs": (1, MAX_COUNT),
    "batch_size": (1, MAX_COUNT),
    "subset": (1, MAX_COUNT),
    "test_size": (1, MAX_COUNT),
    "val_size": (0, MAX_COUNT),
    "stop_after_epoch": (1, MAX_COUNT),
    "image_size": (1, MAX_IMAGE_SIZE),
    "crop_padding": (0, 64),
    "seed": (0, MAX_SEED),
}


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
    progress: bool | str = True  # True: a bar on a terminal, lines on a pipe; "lines"; False: nothing
    overwrite: bool = False  # start again in a run folder that holds a run (its files are replaced)

    def validate(self) -> TrainConfig:
        """Check every field against what it may be, and the run-folder flags against each other;
        bad values raise OneByOneError (one line)."""
        self.check_values()
        if self.resume and self.out is None:
            raise OneByOneError("resume needs a run folder (--out)")
        if self.overwrite and self.out is None:
            raise OneByOneError("overwrite needs a run folder (--out)")
        if self.overwrite and self.resume:
            raise OneByOneError(
                "--resume continues the run in --out and --overwrite starts it again: give one"
            )
        self.tta_flip = self.test_time_flip
        self.model = resolved_spec(self.model)  # config.json opens from any working directory
        return self

    def check_values(self) -> TrainConfig:
        """Each field against what it may be: its type, its range or its known names. This is the
        schema of config.json's "config" (and of the train_config other run records keep): a config is
        checked so before training writes it and again whenever one is read."""
        self._check_types()
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
        for name, (low, high) in _INT_RANGES.items():
            _check_range(name, getattr(self, name), low, high)
        for name in ("lr", "resume_lr"):  # the optimizer holds lr as a float32 (1e300: an internal error)
            _check_range(name, getattr(self, name), 0, MAX_FLOAT32, low_open=True)
        _check_range("weight_decay", self.weight_decay, 0, math.inf)
        # pixels are scaled to [0, 1] before standardising: their mean and deviation lie in it too
        _check_range("mean", self.mean, 0, 1)
        _check_range("std", self.std, 0, 1, low_open=True)
        for name in (
            "warmup_fraction",
            "final_lr_fraction",
            "label_smoothing",
            "ema_decay",
            "erase",
            "momentum",
        ):
            if not 0 <= getattr(self, name) < 1:
                raise OneByOneError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.progress not in (True, False, "lines"):
            raise OneByOneError(f"progress must be true, false or 'lines', got {self.progress!r:.80}")
        for name in ("model", "data", "data_dir", "out"):
            text = getattr(self, name)
            if text is not None and not 0 < len(text) <= MAX_PATH:
                raise OneByOneError(f"{name} must be 1 to {MAX_PATH:,} characters, got {len(text):,}")
        get_dataset(self.data)  # an unknown name or a missing argument raises
        return self

    def _check_types(self) -> None:
        """Each field holds plain data of its annotated type (a damaged config.json may hold anything)."""
        for name, hint in typing.get_type_hints(TrainConfig).items():
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                continue  # a float all the same: the range checks name it as not finite
            plain = is_plain_mapping(value) if isinstance(value, dict) or hint is dict else True
            if not (plain and value_fits(value, hint)):
                expected = " or ".join(
                    "None" if k is type(None) else k.__name__ for k in typing.get_args(hint)
                )
                raise OneByOneError(f"{name} must be {expected or hint.__name__}, got {value!r:.80}")
        if not self.model:
            raise OneByOneError("model must be a zoo name, file.py:factory or module:factory, got ''")

    @property
    def test_time_flip(self) -> bool:
        """Whether the test averages each image with its mirror image (`tta_flip`, resolved)."""
        return self.tta_flip if self.tta_flip is not None else self.augment and self.hflip

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The config a record holds, every field checked (`check_values`)."""
        if not isinstance(data, dict):
            raise OneByOneError(f"a training configuration is a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OneByOneError(f"unknown training option(s) {', '.join(unknown)}")
        # a record onebyone writes holds every field (`to_dict`): one left out would be its default,
        # another model or data set than the weights were trained with
        missing = [name for name in names if name not in data]
        if missing:
            raise OneByOneError(f"the training configuration lacks {', '.join(sorted(missing))}")
        return cls(**data).check_values()


def _check_range(name: str, value: float | None, low: float, high: float, *, low_open: bool = False) -> None:
    """`value` (skipped when None) is finite and in [low, high] (or (low, high] when low_open)."""
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise OneByOneError(f"{name} must be a finite number, got {value}")
    if value < low or (low_open and value == low):
        bound = f"> {low}" if low_open else "> 0" if low == 1 else f"≥ {low}"
        raise OneByOneError(f"{name} must be {bound}, got {value}")
    if value > high:
        shown = (
            f"a {len(str(value))}-digit number" if isinstance(value, int) and value > 10**30 else f"{value:,}"
        )
        raise OneByOneError(f"{name} must be at most {high:,}, got {shown}")


# Older config.json versions and how each becomes the next; none yet (version 1 is the first).
CONFIG_UPGRADES: dict = {}


def write_config(path: Path, config: TrainConfig) -> None:
    """config.json: {"schema_version", "config"}, the config checked as `read_config` checks it."""
    payload = {"schema_version": CONFIG_SCHEMA_VERSION, "config": config.check_values().to_dict()}
    atomic_write_text(path, json_text(payload) + "\n")


def read_config(path: Path) -> TrainConfig:
    """The config a run folder's config.json holds, checked field by field: a wrong type, a value out
    of range, an unknown name or version is one line naming the file and the field."""
    if not path.is_file():
        raise OneByOneError(f"{str(path.parent)!r} is not a training run (no {path.name})")
    where = f"{str(path)!r}: unreadable run configuration"
    payload = check_version(
        read_json(path, "run configuration"), CONFIG_SCHEMA_VERSION, where, CONFIG_UPGRADES
    )
    unknown = sorted(set(payload) - {"schema_version", "config"})
    if unknown or "config" not in payload:
        what = f"unknown field {unknown[0]!r:.60}" if unknown else "no config"
        raise OneByOneError(f"{where} ({what})")
    try:
        return TrainConfig.from_dict(payload["config"])
    except (OneByOneError, TypeError) as exc:
        raise OneByOneError(f"{where} ({exc})") from None
