"""The pieces of the training recipe, shared by `train` and by fine-tuning (`surgery.finetune`).

The one-cycle schedule, the optimizer (no weight decay on 1-d tensors), bf16 autocast and
channels_last, the weight EMA, and one optimisation step: cross-entropy with label smoothing
under autocast, backward, step. A config here is a `TrainConfig`.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from onebyone.train.config import TrainConfig
from onebyone.train.guard import TrainingDiverged


def lr_at(step: int, total_steps: int, config: TrainConfig) -> float:
    """One-cycle schedule: linear warm-up from peak/25 to the peak, then cosine down."""
    warmup = max(1, int(total_steps * config.warmup_fraction))
    floor = config.lr * config.final_lr_fraction
    if step < warmup:
        return config.lr / 25 + (config.lr - config.lr / 25) * step / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum, or AdamW (beta1 = momentum), at the peak lr of `config`.

    No weight decay on biases and norm scales (1-d tensors): it only fights BN.
    """
    groups = [
        {"params": [p for p in model.parameters() if p.ndim > 1], "weight_decay": config.weight_decay},
        {"params": [p for p in model.parameters() if p.ndim <= 1], "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0)
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.momentum, 0.999))


def autocast(config: TrainConfig, device: torch.device) -> AbstractContextManager:
    """bf16 autocast on `device` when the recipe's precision is bf16; otherwise nothing."""
    if config.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def memory_format(config: TrainConfig) -> torch.memory_format:
    return torch.channels_last if config.channels_last else torch.contiguous_format


class EMA:
    """Exponential moving average of the float parameters and buffers, kept in fp32."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {
            k: v.detach().clone().float() for k, v in model.state_dict().items() if v.dtype.is_floating_point
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, value in model.state_dict().items():
            if name in self.state:
                self.state[name].lerp_(value.float(), 1 - self.decay)

    def copy_to(self, model: nn.Module) -> None:
        current = model.state_dict()
        merged = {k: (self.state[k].to(v.dtype) if k in self.state else v) for k, v in current.items()}
        model.load_state_dict(merged)


def train_step(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    lr: float,
    config: TrainConfig,
    device: torch.device,
    *,
    epoch: int,
    step: int,
) -> tuple[Tensor, Tensor]:
    """One optimisation step at learning rate `lr` on a batch; returns (loss, logits).

    x: (B, C, H, W) on the CPU, moved to `device` in the recipe's layout; y: (B,).
    A non-finite loss raises TrainingDiverged (naming `epoch`, 0-based, and `step`) before the
    weights are touched.
    """
    x = x.to(device, memory_format=memory_format(config), non_blocking=True)  # (B, C, H, W)
    y = y.to(device, non_blocking=True)  # (B,)
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast(config, device):
        logits = net(x)  # (B, classes)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
    if not torch.isfinite(loss).item():
        raise TrainingDiverged(f"loss is {loss.item()}", epoch, step, lr)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits
