"""Real image data sets held in memory as uint8 tensors.

Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) from its IDX files, scikit-learn's bundled
8×8 digits, and a folder of the user's own images (one sub-folder per class). Every data set
is an `ImageDataset`: images (N, C, H, W) uint8, labels (N,) int64, and the class names.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from onebyone.data.idx import read_idx
from onebyone.data.photos import load_image
from onebyone.errors import OneByOneError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGITS_CLASSES = tuple(str(digit) for digit in range(10))
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class ImageDataset:
    """Images and labels in memory.

    Attributes:
        images: (N, C, H, W) uint8.
        labels: (N,) int64 class indices.
        classes: class names, index = label.
        name: where the data came from, for reports.
        skipped: files that could not be read, as "path: reason" (image folders only).
        source: what an image folder's images were loaded from (`folder_source`: its classes, the
            number of images and a digest of their files), None for the other data sets.
    """

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...]
    name: str = "data"
    skipped: list[str] = field(default_factory=list)
    source: dict | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise OneByOneError(
                f"{self.name}: images must be (N, C, H, W) uint8, got "
                f"{tuple(self.images.shape)} {self.images.dtype}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise OneByOneError(
                f"{self.name}: {self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def subset(self, indices: Tensor | np.ndarray | list[int], name: str | None = None) -> ImageDataset:
        indices = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(self.images[indices], self.labels[indices], self.classes, name or self.name)


def _find(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.is_file():
            return candidate
    raise OneByOneError(f"data folder {str(data_dir)!r} has no {stem} or {stem}.gz")


def load_fashion_mnist(split: str = "train", data_dir: str | Path | None = None) -> ImageDataset:
    """Fashion-MNIST's "train" (60,000) or "test" (10,000) split from its four IDX files."""
    if split not in ("train", "test"):
        raise OneByOneError(f"split must be 'train' or 'test', got {split!r}")
    directory = Path(data_dir) if data_dir is not None else FASHION_MNIST_DIR
    if not directory.is_dir():
        raise OneByOneError(f"data folder {str(directory)!r} not found")
    prefix = "train" if split == "train" else "t10k"
    image_path = _find(directory, f"{prefix}-images-idx3-ubyte")
    label_path = _find(directory, f"{prefix}-labels-idx1-ubyte")
    stamp = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in (image_path, label_path))
    images, labels = _read_pair(image_path, label_path, stamp)
    return ImageDataset(
        torch.from_numpy(images).unsqueeze(1),  # (N, 1, 28, 28)
        torch.from_numpy(labels.astype(np.int64)),
        FASHION_MNIST_CLASSES,
        name=f"fashion-mnist/{split}",
    )


@functools.lru_cache(maxsize=4)
def _read_pair(image_path: Path, label_path: Path, stamp: tuple) -> tuple[np.ndarray, np.ndarray]:
    # Cached on the files' mtime and size: a process that trains twice decompresses once.
    images = read_idx(image_path, expected_ndim=3)
    labels = read_idx(label_path, expected_ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise OneByOneError(
            f"{str(image_path)!r}/{label_path.name}: expected unsigned-byte IDX data, "
            f"got {images.dtype} and {labels.dtype}"
        )
    if images.shape[1:] != (28, 28):
        raise OneByOneError(
            f"{str(image_path)!r}: images of {images.shape[1]}×{images.shape[2]} pixels; "
            "Fashion-MNIST's are 28×28"
        )
    if images.shape[0] != labels.shape[0]:
        raise OneByOneError(
            f"{str(image_path)!r} has {images.shape[0]} images but "
            f"{label_path.name} has {labels.shape[0]} labels"
        )
    if labels.max() >= len(FASHION_MNIST_CLASSES):
        raise OneByOneError(f"{str(label_path)!r}: label {int(labels.max())} outside 0..9")
    return images, labels


def load_digits(split: str = "train", *, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images), split into train/test.

    Pixel values 0..16 are scaled to 0..255. The split is stratified-free but seeded, so
    train and test never overlap for the same seed.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:  # scikit-learn is a dev/optional dependency
        raise OneByOneError("the digits data set needs scikit-learn (pip install scikit-learn)") from exc
    if split not in ("train", "test"):
        raise OneByOneError(f"split must be 'train' or 'test', got {split!r}")
    bunch = sklearn_digits()
    images = torch.from_numpy(np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(labels) * test_fraction))
    chosen = order[:n_test] if split == "test" else order[n_test:]
    return ImageDataset(images[chosen], labels[chosen], DIGITS_CLASSES, name=f"digits/{split}")


def folder_classes(root: str | Path) -> tuple[str, ...]:
    """Class names of an image folder: its sub-folders (not hidden ones), sorted; index = label."""
    root = Path(root)
    if not root.is_dir():
        raise OneByOneError(f"image folder {str(root)!r} not found")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if not classes:
        raise OneByOneError(f"image folder {str(root)!r} has no class sub-folders")
    return classes


def folder_source(classes: tuple[str, ...], files: list[tuple[str, str, int]]) -> dict:
    """What an image folder's loaded images were: {"classes", "images", "digest"}, the digest the
    sha256 of the sorted (class, file path under the class folder, size in bytes) of each image read
    (unreadable files left out, as the loader skips them). Its test split is drawn from these images
    in their order: another list gives another split."""
    listing = json.dumps(sorted(files), separators=(",", ":"))  # ASCII: a non-UTF-8 name is escaped
    digest = hashlib.sha256(listing.encode("ascii")).hexdigest()
    return {"classes": list(classes), "images": len(files), "digest": digest}


def load_image_folder(
    root: str | Path, *, size: int | tuple[int, int] = 32, channels: int = 3
) -> ImageDataset:
    """Images under root/<class>/<file>, resized to `size` and converted to 1 or 3 channels.

    Files Pillow cannot read are skipped and listed in `skipped`; a folder with no readable
    image at all is an error.
    """
    root = Path(root)
    if channels not in (1, 3):
        raise OneByOneError(f"channels must be 1 or 3, got {channels}")
    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1:
        raise OneByOneError(f"image size must be positive, got {size}")
    classes = folder_classes(root)
    tensors, labels, skipped, files = [], [], [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                tensors.append(load_image(path, channels=channels, size=(height, width)))
            except OneByOneError as exc:
                skipped.append(f"{path}: {exc}")
                continue
            labels.append(label)
            files.append((name, path.name, path.stat().st_size))
    if not tensors:
        raise OneByOneError(
            f"image folder {str(root)!r} has no readable images "
            f"({len(skipped)} unreadable, suffixes {', '.join(IMAGE_SUFFIXES)})"
        )
    images = torch.cat(tensors)  # (N, C, H, W)
    return ImageDataset(
        images,
        torch.tensor(labels, dtype=torch.long),
        classes,
        name=f"folder:{root}",
        skipped=skipped,
        source=folder_source(classes, files),
    )


def split_train_val(
    data: ImageDataset, val_size: int | float, *, seed: int = 0
) -> tuple[ImageDataset, ImageDataset]:
    """A seeded random hold-out: (train, validation) taken from the training set.

    `val_size` is a count, or a fraction of the data if < 1.
    """
    n = len(data)
    count = int(round(val_size * n)) if isinstance(val_size, float) and val_size < 1 else int(val_size)
    if not 0 <= count < n:
        raise OneByOneError(f"validation size {val_size} leaves no training data out of {n} images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train = data.subset(order[count:], f"{data.name}[train]")
    val = data.subset(order[:count], f"{data.name}[val]")
    return train, val
