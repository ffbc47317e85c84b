"""Class names by data set: the list a model's outputs are read with.

ImageNet's 1000 names ship as package data (`imagenet_classes.txt`, WordNet ids and names);
the small data sets' names are defined with their loaders. A model's registry entry names its list
(`ModelEntry.classes`), so the zoo need not import the data layer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources

from onebyone.data.datasets import DIGITS_CLASSES, FASHION_MNIST_CLASSES
from onebyone.errors import OneByOneError

IMAGENET_CLASSES_FILE = "imagenet_classes.txt"


@functools.cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """(WordNet id, name) of ImageNet's 1000 classes, in label order."""
    text = resources.files("onebyone.data").joinpath(IMAGENET_CLASSES_FILE).read_text(encoding="utf-8")
    rows = tuple(
        tuple(line.split("\t")) for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
    if len(rows) != 1000 or any(len(row) != 2 for row in rows):
        raise OneByOneError(
            f"{IMAGENET_CLASSES_FILE} must hold 1000 'wnid<TAB>name' rows (reinstall onebyone)"
        )
    return rows  # type: ignore[return-value]


CLASS_LISTS: dict[str, Callable[[], tuple[str, ...]]] = {
    "imagenet": lambda: tuple(name for _, name in imagenet_classes()),
    "fashion-mnist": lambda: FASHION_MNIST_CLASSES,
    "digits": lambda: DIGITS_CLASSES,
}


def class_names(name: str) -> tuple[str, ...]:
    """The class names of the list `name` ("imagenet", "fashion-mnist", "digits"), index = label."""
    if name not in CLASS_LISTS:
        raise OneByOneError(f"unknown class list {name!r}; expected one of {', '.join(CLASS_LISTS)}")
    return CLASS_LISTS[name]()
