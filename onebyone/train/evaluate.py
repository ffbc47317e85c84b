"""Predictions and accuracy of a model on a data set, with the run's normalisation and layout."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from onebyone.data import BatchIterator, ImageDataset
from onebyone.train.config import TrainConfig
from onebyone.train.recipe import EMA, autocast, memory_format


@torch.no_grad()
def predict(
    model: nn.Module,
    data: ImageDataset,
    config: TrainConfig,
    *,
    batch_size: int = 500,
    device: torch.device | None = None,
    tta: bool | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Tensor:
    """Predicted class of every image, (N,) int64, in eval mode.

    With test-time augmentation (`tta`, default `config.test_time_flip`), the logits of each image and
    of its left-right mirror are averaged. `on_batch(images)` is called after each batch (progress).
    """
    tta = config.test_time_flip if tta is None else tta
    device = device or next(model.parameters()).device
    model.eval()
    batches = BatchIterator.from_config(data, config, training=False, batch_size=batch_size)
    predictions = []
    for x, _ in batches:
        x = x.to(device, memory_format=memory_format(config))
        with autocast(config, device):
            logits = model(x).float()  # (B, classes)
            if tta:
                logits = logits + model(x.flip(3)).float()
        predictions.append(logits.argmax(1).cpu())
        if on_batch is not None:
            on_batch(len(x))
    return torch.cat(predictions)


def accuracy(model: nn.Module, data: ImageDataset, config: TrainConfig, *, tta: bool | None = None) -> float:
    return (predict(model, data, config, tta=tta) == data.labels).float().mean().item()


def averaged_model(model: nn.Module, ema: EMA | None) -> nn.Module:
    """The model to evaluate: the EMA weights in a copy, or the model itself."""
    if ema is None:
        return model
    averaged = copy.deepcopy(model)
    ema.copy_to(averaged)
    return averaged
