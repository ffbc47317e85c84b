"""Real data sets in memory: a strict IDX reader, Fashion-MNIST, scikit-learn's digits, image
folders, a seeded validation split, and batch-wise augmentation without a DataLoader."""

from onebyone.data.batches import BatchIterator, random_crop, random_erase, random_hflip, shard_indices
from onebyone.data.datasets import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    ImageDataset,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    split_train_val,
)
from onebyone.data.idx import parse_idx, read_idx, write_idx
from onebyone.data.registry import DatasetEntry, get_dataset, list_datasets, load_splits, register_dataset

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "BatchIterator",
    "DatasetEntry",
    "ImageDataset",
    "get_dataset",
    "list_datasets",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_splits",
    "parse_idx",
    "random_crop",
    "random_erase",
    "random_hflip",
    "read_idx",
    "register_dataset",
    "shard_indices",
    "split_train_val",
    "write_idx",
]
