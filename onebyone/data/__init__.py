"""Real data sets in memory: a strict IDX reader, Fashion-MNIST, scikit-learn's digits, image
folders, a seeded validation split, and batch-wise augmentation without a DataLoader; photos as
network inputs (`preprocess_image`) and class names by data set (ImageNet's shipped as data)."""

from onebyone.data.batches import BatchIterator, random_crop, random_erase, random_hflip, shard_indices
from onebyone.data.classes import CLASS_LISTS, class_names, imagenet_classes
from onebyone.data.datasets import (
    DIGITS_CLASSES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    ImageDataset,
    folder_classes,
    folder_source,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    split_train_val,
)
from onebyone.data.idx import parse_idx, read_idx, write_idx
from onebyone.data.photos import (
    MAX_PHOTO_SIDE,
    MAX_UPSCALE,
    crop_photo,
    fit_photo,
    load_image,
    open_image,
    preprocess_image,
    standardise,
)
from onebyone.data.registry import DatasetEntry, get_dataset, list_datasets, load_splits, register_dataset

__all__ = [
    "CLASS_LISTS",
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "MAX_PHOTO_SIDE",
    "MAX_UPSCALE",
    "BatchIterator",
    "DatasetEntry",
    "ImageDataset",
    "get_dataset",
    "list_datasets",
    "class_names",
    "crop_photo",
    "fit_photo",
    "folder_classes",
    "folder_source",
    "imagenet_classes",
    "load_digits",
    "load_fashion_mnist",
    "load_image",
    "load_image_folder",
    "load_splits",
    "open_image",
    "parse_idx",
    "preprocess_image",
    "random_crop",
    "random_erase",
    "random_hflip",
    "read_idx",
    "register_dataset",
    "shard_indices",
    "split_train_val",
    "standardise",
    "write_idx",
]
