"""Checks made before the first step, so a run that cannot work fails in one line, not minutes in.

The training split must hold at least two classes, and the model must take the data's images:
one forward pass on an input of the real shape (eval mode, no gradient, nothing changed) turns a
shape error deep inside the model into a line naming the model and the input shape.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone.data import ImageDataset
from onebyone.errors import OneByOneError
from onebyone.train.config import TrainConfig
from onebyone.train.recipe import autocast, memory_format


def first_line(exc: BaseException) -> str:
    """An exception's message as one line (its first), or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_classes(train: ImageDataset, config: TrainConfig) -> None:
    """A classifier needs two classes among its training labels."""
    present = torch.unique(train.labels).numel()
    if present < 2:
        raise OneByOneError(
            f"the training split of {config.data!r} has {present} class(es) among its {len(train)} "
            "image(s); a classifier needs at least 2 (more images, or a larger --subset)"
        )


def check_normalisation(config: TrainConfig) -> None:
    assert config.std is not None, "prepare_data measures the std before this check"
    if not config.std > 0:
        raise OneByOneError(
            f"the training images of {config.data!r} have a pixel standard deviation of {config.std}: "
            "nothing to learn from (all pixels equal?)"
        )


@torch.no_grad()
def check_input(model: nn.Module, train: ImageDataset, config: TrainConfig, device: torch.device) -> None:
    """One forward pass on a (1, C, H, W) input of the data's shape; the output must be (1, classes):
    one logit per class of the data, no more (`--set num_classes=1000` on a 10-class set would train,
    and then its outputs beyond the tenth would name no class), no fewer."""
    shape = (1, *train.input_shape)
    x = torch.zeros(shape, device=device).contiguous(memory_format=memory_format(config))
    was_training = model.training
    model.eval()
    try:
        with autocast(config, device):
            out = model(x)
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        raise OneByOneError(
            f"model {config.model!r} cannot take the images of {config.data!r}, input shape "
            f"{tuple(shape)} (N, C, H, W): {first_line(exc)}"
        ) from exc
    finally:
        model.train(was_training)
    classes = len(train.classes)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise OneByOneError(
            f"model {config.model!r} gives {got} for an input of shape {tuple(shape)}; training needs "
            f"logits of shape (N, {classes}) for the {classes} classes of {config.data!r}"
        )
