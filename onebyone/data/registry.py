"""Data-set registry: every data set a run can train on is one registration, as models are.

A run names its data with a string: a registered name (`fashion-mnist`, `digits`) or a name with an
argument (`folder:PATH`). `get_dataset("folder:/photos")` returns the entry and the argument; the entry
knows how to load the train and test splits, the input size its images have, and how many training
images to hold out for validation by default.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from onebyone.data.datasets import (
    DIGITS_CLASSES,
    FASHION_MNIST_CLASSES,
    ImageDataset,
    folder_classes,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    split_train_val,
)
from onebyone.errors import OneByOneError

# A loader gets the argument after "NAME:" (or None), the data folder option, and the (C, H, W) the
# model takes (image folders are converted to it); it returns the (train, test) splits.
Loader = Callable[[str | None, str | None, tuple[int, int, int]], tuple[ImageDataset, ImageDataset]]


@dataclass(frozen=True)
class DatasetEntry:
    """A registered data set."""

    name: str
    load: Loader
    description: str
    input_size: tuple[int, int, int] | None  # (C, H, W) of its images; None: the model's (image folders)
    classes: tuple[str, ...] | Callable[[str], tuple[str, ...]]  # names, or names from the argument
    takes_argument: bool = False  # named as "NAME:ARGUMENT"
    val_size: int | float = 0.1  # default hold-out: a count, or a fraction of the training split

    def class_names(self, argument: str | None = None) -> tuple[str, ...]:
        """Class names, index = label, without loading the images."""
        return self.classes(argument) if callable(self.classes) else self.classes

    def validation_count(self, train_images: int) -> int:
        if isinstance(self.val_size, float):
            return max(1, int(train_images * self.val_size))
        return self.val_size


_DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(
    name: str,
    *,
    description: str,
    input_size: tuple[int, int, int] | None,
    classes: tuple[str, ...] | Callable[[str], tuple[str, ...]],
    takes_argument: bool = False,
    val_size: int | float = 0.1,
) -> Callable[[Loader], Loader]:
    """Decorator that adds a loader to the registry under `name`."""

    def add(load: Loader) -> Loader:
        if name in _DATASETS:
            raise RuntimeError(f"data set {name!r} registered twice")
        _DATASETS[name] = DatasetEntry(name, load, description, input_size, classes, takes_argument, val_size)
        return load

    return add


def list_datasets() -> list[DatasetEntry]:
    return [_DATASETS[name] for name in sorted(_DATASETS)]


def _usage() -> str:
    return ", ".join(f"{e.name}:PATH" if e.takes_argument else e.name for e in list_datasets())


def get_dataset(spec: str) -> tuple[DatasetEntry, str | None]:
    """The entry a data string names, and its argument: "folder:/x" → (folder entry, "/x")."""
    if not isinstance(spec, str) or not spec:
        raise OneByOneError(f"data must be one of {_usage()}, got {spec!r}")
    name, sep, argument = spec.partition(":")
    entry = _DATASETS.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(_DATASETS), n=2, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise OneByOneError(f"unknown data set {spec!r}{hint} (expected one of {_usage()})")
    if entry.takes_argument and not argument:
        raise OneByOneError(f"data {spec!r} needs an argument: {name}:PATH")
    if not entry.takes_argument and sep:
        raise OneByOneError(f"data set {name!r} takes no argument, got {spec!r}")
    return entry, argument or None


def load_splits(
    spec: str, *, data_dir: str | None = None, input_size: tuple[int, int, int]
) -> tuple[ImageDataset, ImageDataset]:
    """(train, test) of the data set `spec`, images as the model of `input_size` takes them."""
    entry, argument = get_dataset(spec)
    return entry.load(argument, data_dir, input_size)


@register_dataset(
    "fashion-mnist",
    description="Fashion-MNIST: 60,000 + 10,000 grey 28×28 clothing photos, 10 classes (Debian's IDX files)",
    input_size=(1, 28, 28),
    classes=FASHION_MNIST_CLASSES,
    val_size=5000,
)
def _fashion_mnist(argument, data_dir, input_size):
    return load_fashion_mnist("train", data_dir), load_fashion_mnist("test", data_dir)


@register_dataset(
    "digits",
    description="scikit-learn's 1,797 grey 8×8 handwritten digits, 10 classes (80/20 split)",
    input_size=(1, 8, 8),
    classes=DIGITS_CLASSES,
)
def _digits(argument, data_dir, input_size):
    return load_digits("train"), load_digits("test")


@register_dataset(
    "folder",
    description="your images under PATH/<class>/<file>, resized to the model's input; a fixed 20% test split",
    input_size=None,
    classes=folder_classes,
    takes_argument=True,
)
def _folder(argument, data_dir, input_size):
    channels, height, width = input_size
    everything = load_image_folder(argument, size=(height, width), channels=1 if channels == 1 else 3)
    if len(everything.classes) < 2:
        raise OneByOneError(
            f"image folder {argument!r} has {len(everything.classes)} class sub-folder(s); "
            "a classifier needs at least 2"
        )
    # A fixed 20% test split, the same for every seed, so seeds compare on one test set.
    train, test = split_train_val(everything, max(1, len(everything) // 5), seed=12345)
    train.skipped, train.source = everything.skipped, everything.source
    return train, test
