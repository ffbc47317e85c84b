"""From a config to data and a model, and from a run folder back to a model.

`load_run(run_dir)` is what the inspect, report and compress tools use: it rebuilds the model
from `config.json` and loads `model.safetensors` without unpickling anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from onebyone.data import (
    ImageDataset,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    split_train_val,
)
from onebyone.errors import OneByOneError
from onebyone.models.loading import default_input_size, load_model
from onebyone.models.registry import model_options
from onebyone.train.checkpoint import CONFIG_FILE, MODEL_FILE, load_weights
from onebyone.train.config import TrainConfig, read_config


@dataclass
class RunData:
    """The three splits of a run: train (minus validation), validation, test."""

    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    skipped: list[str] = field(default_factory=list)  # unreadable files of an image folder

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes


def _model_input_size(config: TrainConfig) -> tuple[int, int, int]:
    size = default_input_size(config.model)
    return size if size is not None else (3, 32, 32)


def load_data(config: TrainConfig) -> RunData:
    """Load the configured data set and split off the validation set (seeded by config.seed)."""
    if config.data == "fashion-mnist":
        train = load_fashion_mnist("train", config.data_dir)
        test = load_fashion_mnist("test", config.data_dir)
    elif config.data == "digits":
        train, test = load_digits("train"), load_digits("test")
    else:
        channels, height, _ = _model_input_size(config)
        everything = load_image_folder(
            config.data.removeprefix("folder:"),
            size=config.image_size or height,
            channels=1 if channels == 1 else 3,
        )
        # A fixed 20% test split, the same for every seed, so seeds compare on one test set.
        train, test = split_train_val(everything, max(1, len(everything) // 5), seed=12345)
    val_size = config.val_size
    if val_size is None:
        val_size = 5000 if config.data == "fashion-mnist" else max(1, len(train) // 10)
    train, val = split_train_val(train, val_size, seed=config.seed)
    if config.subset is not None:
        train = train.subset(torch.arange(min(config.subset, len(train))), f"{train.name}[:{config.subset}]")
    if config.test_size is not None:
        test = test.subset(
            torch.arange(min(config.test_size, len(test))), f"{test.name}[:{config.test_size}]"
        )
    skipped = everything.skipped if config.data.startswith("folder:") else []
    return RunData(train, val, test, skipped)


def resolve_overrides(config: TrainConfig, data: ImageDataset) -> dict:
    """The model's keyword overrides, with num_classes/in_channels from the data unless given."""
    overrides = dict(config.model_overrides)
    if ":" not in config.model:
        options = model_options(config.model)
        if "num_classes" in options:
            overrides.setdefault("num_classes", len(data.classes))
        if "in_channels" in options:
            overrides.setdefault("in_channels", data.input_shape[0])
    return overrides


def normalise(images: Tensor, config: TrainConfig) -> Tensor:
    """uint8 (B, C, H, W) → float, scaled to [0, 1] and standardised with the run's mean/std."""
    return (images.float() / 255.0 - config.mean) / config.std


def read_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved config of a run folder; for a compressed run, the config of the run it came from."""
    run = Path(run_dir)
    if not (run / CONFIG_FILE).is_file():
        from onebyone.surgery.runs import compressed_run_config, is_compressed_run

        if is_compressed_run(run):
            return compressed_run_config(run)
    return read_config(run / CONFIG_FILE)


def load_run(run_dir: str | Path) -> tuple[nn.Module, TrainConfig]:
    """The trained model (eval mode, on CPU) and the resolved config of a run folder.

    A folder written by `onebyone compress` loads too: its factorised model, with the config of the
    run it was compressed from."""
    run = Path(run_dir)
    if not run.is_dir():
        raise OneByOneError(f"run folder {str(run)!r} not found")
    if not (run / CONFIG_FILE).is_file():
        from onebyone.surgery.runs import is_compressed_run, load_compressed_run

        if is_compressed_run(run):  # written by `onebyone compress`
            return load_compressed_run(run)
    config = read_config(run / CONFIG_FILE)
    if not (run / MODEL_FILE).is_file():
        raise OneByOneError(f"{str(run)!r} has no {MODEL_FILE}: the run has not finished (resume it)")
    state = load_weights(run / MODEL_FILE)
    # config.json holds the resolved overrides (num_classes, in_channels), so no data is needed.
    model = load_model(config.model, dict(config.model_overrides))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise OneByOneError(f"{str(run)!r}: weights do not fit the configured model ({exc})") from exc
    return model.eval(), config
