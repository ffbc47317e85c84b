"""Where a run runs: the device, and the ranks of DistributedDataParallel under torchrun.

Under `torchrun` every rank runs the same loop on its own shard of the data; these helpers start
the process group and keep what DDP does not synchronise (BN statistics, the EMA, the epoch's
loss and accuracy) the same on every rank.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.train.config import TrainConfig
from onebyone.train.recipe import EMA


def pick_device(config: TrainConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if config.device == "cuda":
        if not torch.cuda.is_available():
            raise OneByOneError(
                f"--device cuda: no CUDA device available (this torch: {torch.__version__}); use --device cpu"
            )
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world_size) from torchrun's environment; starts the process group if > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world_size > 1 else 0
    return rank, world_size


def wrap(model: nn.Module, device: torch.device, world_size: int) -> nn.Module:
    """The module the loop calls: the model itself, or DDP around it on more than one rank."""
    if world_size == 1:
        return model
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


@torch.no_grad()
def average_buffers(model: nn.Module, ema: EMA | None, world_size: int) -> None:
    """Average BN running statistics (and the EMA) over ranks.

    DDP keeps the parameters equal, but each rank's last forward passes update its own running
    statistics; averaging them makes every rank hold the same model (parameters are equal, so
    their average is exactly themselves).
    """
    if world_size == 1:
        return
    tensors = [b for b in model.buffers() if b.dtype.is_floating_point]
    if ema is not None:
        tensors += list(ema.state.values())
    for tensor in tensors:
        dist.all_reduce(tensor)
        tensor.div_(world_size)


def sum_over_ranks(loss_sum: Tensor, correct: Tensor, seen: int, world_size: int) -> tuple[float, float, int]:
    """The whole batch's (loss sum, correct, seen) over all ranks, not one rank's."""
    if world_size == 1:
        return float(loss_sum), float(correct), seen
    totals = torch.tensor([loss_sum.item(), correct.item(), seen], dtype=torch.float64)
    dist.all_reduce(totals)
    return float(totals[0]), float(totals[1]), int(totals[2].item())


def barrier(world_size: int) -> None:
    if world_size > 1:
        dist.barrier()
