"""From a training config to its data: the splits, the model's options from the data, normalisation.

Opening a run folder back into a model is `onebyone.runs.open_run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from onebyone.data import ImageDataset, split_train_val
from onebyone.data.registry import get_dataset, load_splits
from onebyone.models.loading import default_input_size
from onebyone.models.registry import model_options
from onebyone.train.config import TrainConfig


@dataclass
class RunData:
    """The three splits of a run: train (minus validation), validation, test."""

    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    skipped: list[str] = field(default_factory=list)  # unreadable files of an image folder
    source: dict | None = None  # what an image folder's splits were drawn from (data.folder_source)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes


def data_input_size(config: TrainConfig) -> tuple[int, int, int]:
    """The (C, H, W) of the images a run's model gets: its data set's, or for data without a fixed
    size (image folders) the model's design size, with `image_size` as the side when given."""
    entry, _ = get_dataset(config.data)
    if entry.input_size is not None:
        return entry.input_size
    design = default_input_size(config.model) or (3, 32, 32)
    channels = config.model_overrides.get("in_channels", design[0])
    side = config.image_size or design[1]
    return (channels, side, side if config.image_size else design[2])


def load_data(config: TrainConfig) -> RunData:
    """Load the configured data set and split off the validation set (seeded by config.seed)."""
    entry, _ = get_dataset(config.data)
    train, test = load_splits(config.data, data_dir=config.data_dir, input_size=data_input_size(config))
    skipped, source = list(train.skipped), train.source
    val_size = entry.validation_count(len(train)) if config.val_size is None else config.val_size
    train, val = split_train_val(train, val_size, seed=config.seed)
    if config.subset is not None:
        train = train.subset(torch.arange(min(config.subset, len(train))), f"{train.name}[:{config.subset}]")
    if config.test_size is not None:
        test = test.subset(
            torch.arange(min(config.test_size, len(test))), f"{test.name}[:{config.test_size}]"
        )
    return RunData(train, val, test, skipped, source)


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
