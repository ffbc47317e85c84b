"""A short fine-tuning of a factorised model with its training run's data and recipe.

`onebyone.train.train` builds its model from the config, so a factorised model (a changed
layout) is fine-tuned here with the run's own pieces: its batches and augmentation, its
normalisation, label smoothing, precision and layout, and the one-cycle schedule `lr_at`, at a
lower peak learning rate, since the weights start close to a good solution.
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn


def finetune(model: nn.Module, data, config, epochs: int, *, lr: float = 0.01, seed: int = 0) -> nn.Module:
    """Train `model` in place for `epochs` on `data.train` with the run's `config` recipe.

    Args:
        model: the factorised model.
        data: the run's `RunData` (from `onebyone.train.load_data`).
        config: the run's resolved `TrainConfig`.
        epochs: passes over the training split.
        lr: peak learning rate of the one-cycle schedule (the run's own peak is for training from scratch).
    """
    from onebyone.data import BatchIterator
    from onebyone.train import lr_at

    recipe = dataclasses.replace(config, epochs=epochs, lr=lr, warmup_fraction=0.1)
    batches = BatchIterator(
        data.train,
        recipe.batch_size,
        shuffle=True,
        drop_last=len(data.train) >= 2 * recipe.batch_size,
        augment=recipe.augment,
        crop_padding=recipe.crop_padding,
        hflip=recipe.hflip,
        erase=recipe.erase,
        mean=recipe.mean,
        std=recipe.std,
        seed=seed,
    )
    memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        momentum=0.9,
        nesterov=True,
    )
    bf16 = recipe.precision == "bf16"
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else nullcontext
    total_steps = len(batches) * epochs
    step = 0
    model.train()
    for epoch in range(epochs):
        batches.set_epoch(epoch)
        for x, y in batches:
            x = x.contiguous(memory_format=memory_format)  # (B, C, H, W)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, recipe)
            with autocast():
                logits = model(x)  # (B, classes)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return model.eval().to(memory_format=torch.contiguous_format)
