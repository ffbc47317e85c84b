"""Batches from in-memory tensors: shuffling, sharding, normalisation and augmentation.

The data sets here fit in memory, so a batch is one index into the uint8 tensor; there is no
DataLoader and no worker process. Augmentation works on a whole batch at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from onebyone.data.datasets import ImageDataset


def random_crop(images: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad by `padding` and crop back to the input size at a random offset per image.

    images: (B, C, H, W) any dtype. One advanced-indexing gather for the whole batch.
    """
    if padding <= 0:
        return images
    batch, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    top = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    rows = (top[:, None] + torch.arange(height))[:, :, None]  # (B, H, 1)
    cols = (left[:, None] + torch.arange(width))[:, None, :]  # (B, 1, W)
    batch_index = torch.arange(batch)[:, None, None]
    crops = padded.permute(0, 2, 3, 1)[batch_index, rows, cols]  # (B, H, W, C)
    return crops.permute(0, 3, 1, 2).contiguous()


def random_hflip(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def random_erase(
    images: Tensor, probability: float, generator: torch.Generator | None = None, fill: float = 0.0
) -> Tensor:
    """Random erasing (Zhong et al., 2017): with `probability`, one rectangle per image set to `fill`.

    images: (B, C, H, W) float, already normalised (fill 0 is the data set's mean). The
    rectangle covers 2–33% of the image with an aspect ratio between 1/3 and 3, clipped to
    the image. Masks are built for the whole batch at once.
    """
    if probability <= 0:
        return images
    batch, _, height, width = images.shape
    area = torch.empty(batch).uniform_(0.02, 0.33, generator=generator) * height * width
    log_ratio = torch.empty(batch).uniform_(-1.0986, 1.0986, generator=generator)  # ln 3
    ratio = log_ratio.exp()
    box_h = (area * ratio).sqrt().round().clamp(1, height).long()
    box_w = (area / ratio).sqrt().round().clamp(1, width).long()
    top = (torch.rand(batch, generator=generator) * (height - box_h + 1)).long()
    left = (torch.rand(batch, generator=generator) * (width - box_w + 1)).long()
    apply = torch.rand(batch, generator=generator) < probability
    rows = torch.arange(height)[None, :]  # (1, H)
    cols = torch.arange(width)[None, :]  # (1, W)
    in_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])  # (B, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])  # (B, W)
    mask = in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None]  # (B, H, W)
    return images.masked_fill(mask[:, None], fill)


def shard_indices(n: int, rank: int, world_size: int) -> Tensor:
    """Indices rank::world_size of range(n), padded by wrapping so every rank has as many."""
    per_rank = -(-n // world_size)
    indices = torch.arange(per_rank * world_size) % n
    return indices[rank::world_size]


# torch generators take seeds in [0, 2**64); a seed's arithmetic below wraps into that range
# (the same generator for every seed torch accepted unwrapped).
_SEED_RANGE = 2**64


class BatchRecipe(Protocol):
    """What `BatchIterator.from_config` reads: the batch fields of a `TrainConfig`."""

    batch_size: int
    augment: bool
    crop_padding: int
    hflip: bool
    erase: float
    mean: float | None
    std: float | None
    seed: int


class BatchIterator:
    """Shuffled (or ordered) batches of float images in [0, 1] normalised by mean/std.

    Each epoch draws its permutation from `seed + epoch`, so an epoch's batches do not depend
    on how many epochs ran before in this process: a resumed run sees the same batches.
    With `world_size > 1`, each rank takes its own shard of the permuted indices.
    """

    def __init__(
        self,
        data: ImageDataset,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        augment: bool = False,
        crop_padding: int = 2,
        hflip: bool = True,
        erase: float = 0.0,
        mean: float = 0.0,
        std: float = 1.0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = augment
        self.crop_padding = crop_padding
        self.hflip = hflip
        self.erase = erase
        self.mean = mean
        self.std = std
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    @classmethod
    def from_config(
        cls,
        data: ImageDataset,
        config: BatchRecipe,
        *,
        training: bool = True,
        batch_size: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> BatchIterator:
        """The batches a training recipe (a `TrainConfig`) asks for.

        training: shuffled, augmented as the recipe says, seeded by `config.seed`, sharded over
            `world_size` ranks, dropping a last partial batch when there are two or more full ones.
            Otherwise: in order, plain, every image once (evaluation).
        batch_size: instead of `config.batch_size` (evaluation batches can be larger).
        """
        size = batch_size or config.batch_size
        if not training:
            return cls(data, size, shuffle=False, mean=config.mean, std=config.std)
        return cls(
            data,
            size,
            shuffle=True,
            drop_last=len(data) >= 2 * size,
            augment=config.augment,
            crop_padding=config.crop_padding,
            hflip=config.hflip,
            erase=config.erase,
            mean=config.mean,
            std=config.std,
            seed=config.seed,
            rank=rank,
            world_size=world_size,
        )

    def _indices(self) -> Tensor:
        n = len(self.data)
        if self.shuffle:
            order = torch.randperm(n, generator=self._generator(self.seed + 7919 * self.epoch))
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            order = order[shard_indices(n, self.rank, self.world_size)]
        return order

    @staticmethod
    def _generator(seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed % _SEED_RANGE)

    def __len__(self) -> int:
        n = -(-len(self.data) // self.world_size) if self.world_size > 1 else len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self._indices()
        # The augmentation generator is per epoch and per rank, for exact resumes.
        generator = self._generator(self.seed * 1_000_003 + 7919 * self.epoch + 104_729 * self.rank)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                break
            images = self.data.images[index]  # (B, C, H, W) uint8
            if self.augment:
                if self.crop_padding > 0:
                    images = random_crop(images, self.crop_padding, generator)
                if self.hflip:
                    images = random_hflip(images, generator)
            x = (images.float() / 255.0 - self.mean) / self.std
            if self.augment and self.erase > 0:
                x = random_erase(x, self.erase, generator)
            yield x, self.data.labels[index]
