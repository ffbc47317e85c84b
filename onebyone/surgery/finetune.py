"""A short fine-tuning of a factorised model with its training run's data and recipe.

`onebyone.train.train` builds its model from the config, so a factorised model (a changed
layout) is fine-tuned here with the training recipe's own pieces (`onebyone.train.recipe`): its
batches and augmentation, its normalisation, label smoothing, precision and layout, the optimizer
builder and the one-cycle schedule, at a lower peak learning rate with SGD-Nesterov, since the
weights start close to a good solution.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from onebyone.data import BatchIterator
from onebyone.torch_typing import to_memory_format
from onebyone.train.recipe import build_optimizer, lr_at, memory_format, train_step


def finetune(model: nn.Module, data, config, epochs: int, *, lr: float = 0.01, seed: int = 0) -> nn.Module:
    """Train `model` in place for `epochs` on `data.train` with the run's `config` recipe.

    Args:
        model: the factorised model.
        data: the run's `RunData` (from `onebyone.train.load_data`).
        config: the run's resolved `TrainConfig`.
        epochs: passes over the training split.
        lr: peak learning rate of the one-cycle schedule (the run's own peak is for training from scratch).
        seed: of the batch order and augmentation.
    """
    recipe = dataclasses.replace(
        config, epochs=epochs, lr=lr, warmup_fraction=0.1, optimizer="sgd", momentum=0.9, seed=seed
    )
    batches = BatchIterator.from_config(data.train, recipe)
    device = next(model.parameters()).device
    model = to_memory_format(model, memory_format(recipe))
    optimizer = build_optimizer(model, recipe)
    total_steps = len(batches) * epochs
    step = 0
    model.train()
    for epoch in range(epochs):
        batches.set_epoch(epoch)
        for x, y in batches:
            train_step(
                model,
                x,
                y,
                optimizer,
                lr_at(step, total_steps, recipe),
                recipe,
                device,
                epoch=epoch,
                step=step,
            )
            step += 1
    return to_memory_format(model.eval(), torch.contiguous_format)
