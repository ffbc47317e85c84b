"""Digits, the validation split, image folders with a broken file, batch augmentation, batches."""

import numpy as np
import pytest
import torch
from PIL import Image

from onebyone.data import (
    BatchIterator,
    ImageDataset,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    random_crop,
    random_erase,
    random_hflip,
    shard_indices,
    split_train_val,
)
from onebyone.errors import OneByOneError


def test_digits_are_8x8_with_disjoint_seeded_split():
    train, test = load_digits("train"), load_digits("test")
    assert tuple(train.images.shape[1:]) == (1, 8, 8) and len(train) + len(test) == 1797
    assert train.images.dtype == torch.uint8 and int(train.images.max()) == 255
    assert len(test) == round(1797 * 0.2)
    # no image index in both: compare as raw bytes
    rows = {
        bytes(x.numpy().tobytes()) + bytes([int(y)]) for x, y in zip(train.images, train.labels, strict=True)
    }
    overlap = sum(
        bytes(x.numpy().tobytes()) + bytes([int(y)]) in rows
        for x, y in zip(test.images, test.labels, strict=True)
    )
    assert overlap < 10  # digits holds a few exact duplicates; a leaking split would give ~359


def test_split_is_seeded_and_disjoint():
    data = ImageDataset(
        torch.arange(100, dtype=torch.uint8).reshape(100, 1, 1, 1),
        torch.arange(100) % 10,
        tuple("abcdefghij"),
    )
    train, val = split_train_val(data, 20, seed=3)
    again, _ = split_train_val(data, 20, seed=3)
    other, _ = split_train_val(data, 20, seed=4)
    assert len(train) == 80 and len(val) == 20
    assert set(train.images.flatten().tolist()).isdisjoint(val.images.flatten().tolist())
    assert torch.equal(train.images, again.images) and not torch.equal(train.images, other.images)
    assert len(split_train_val(data, 0.25)[1]) == 25
    with pytest.raises(OneByOneError, match="leaves no training data"):
        split_train_val(data, 100)


def write_folder(root, images: torch.Tensor, labels: torch.Tensor, names):
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / names[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".png" if index % 2 else ".jpg"
        Image.fromarray(image[0].numpy()).save(folder / f"{index}{suffix}")


def test_image_folder_skips_and_reports_a_broken_file(tmp_path):
    real = load_digits("test").subset(torch.arange(12))
    names = [f"digit{d}" for d in range(10)]
    write_folder(tmp_path, real.images, real.labels, names)
    broken = tmp_path / names[int(real.labels[0])] / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    (tmp_path / names[int(real.labels[0])] / "notes.txt").write_text("ignored: not an image suffix")
    data = load_image_folder(tmp_path, size=16, channels=3)
    assert tuple(data.images.shape) == (12, 3, 16, 16)
    assert len(data.skipped) == 1 and str(broken) in data.skipped[0]
    assert data.classes == tuple(sorted({names[int(label)] for label in real.labels}))
    # labels follow the sub-folder names, and grey images are replicated over 3 channels
    assert [data.classes[i] for i in data.labels] == sorted(names[int(label)] for label in real.labels)
    assert torch.equal(data.images[:, 0], data.images[:, 2])
    grey = load_image_folder(tmp_path, size=8, channels=1)  # the design size: no resampling
    assert grey.images.shape[1:] == (1, 8, 8)
    loaded = {bytes(image.numpy().tobytes()) for image in grey.images}
    lossless = [image for index, image in enumerate(real.images) if index % 2]  # the PNG ones
    assert all(bytes(image.numpy().tobytes()) in loaded for image in lossless)


def test_image_folder_errors(tmp_path):
    with pytest.raises(OneByOneError, match="not found"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(OneByOneError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(b"garbage")
    with pytest.raises(OneByOneError, match="no readable images \\(1 unreadable"):
        load_image_folder(tmp_path)
    with pytest.raises(OneByOneError, match="channels must be 1 or 3"):
        load_image_folder(tmp_path, channels=2)


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    images = torch.arange(4 * 2 * 5 * 5, dtype=torch.float32).reshape(4, 2, 5, 5) + 1
    crops = random_crop(images, 2, torch.Generator().manual_seed(0))
    assert crops.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for image, crop in zip(padded, crops, strict=True):
        windows = [image[:, t : t + 5, s : s + 5] for t in range(5) for s in range(5)]
        assert any(torch.equal(crop, w) for w in windows)
    assert not all(torch.equal(c, i) for c, i in zip(crops, images, strict=True))  # some moved


def test_hflip_mirrors_about_half():
    images = torch.rand(400, 1, 3, 3)
    flipped = random_hflip(images, torch.Generator().manual_seed(1))
    mirrored = [torch.equal(f, i.flip(2)) for f, i in zip(flipped, images, strict=True)]
    kept = [torch.equal(f, i) for f, i in zip(flipped, images, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 150 < sum(mirrored) < 250


def test_random_erase_blanks_one_rectangle_in_about_p_of_the_images():
    images = torch.ones(600, 2, 28, 28)
    erased = random_erase(images, 0.5, torch.Generator().manual_seed(3))
    zero = erased == 0  # (B, C, H, W)
    assert torch.equal(zero[:, 0], zero[:, 1])  # every channel of a pixel together
    touched = zero.flatten(1).any(1)
    assert 240 < int(touched.sum()) < 360
    for mask in zero[touched, 0][:50]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        # one solid rectangle: exactly the product of its row and column ranges
        assert int(mask.sum()) == len(rows) * len(cols)
        assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)
        assert 0.01 <= mask.float().mean() <= 0.34
    assert torch.equal(erased[~touched], images[~touched])
    assert random_erase(images, 0.0) is images


def test_batches_cover_every_image_once_per_epoch_and_epochs_differ():
    data = ImageDataset(
        torch.arange(50, dtype=torch.uint8).reshape(50, 1, 1, 1),
        torch.arange(50),
        tuple(str(i) for i in range(50)),
    )
    batches = BatchIterator(data, 16, seed=5)
    first = torch.cat([y for _, y in batches])
    assert len(batches) == 4 and sorted(first.tolist()) == list(range(50))
    batches.set_epoch(1)
    second = torch.cat([y for _, y in batches])
    batches.set_epoch(0)
    assert torch.equal(torch.cat([y for _, y in batches]), first) and not torch.equal(first, second)
    x, y = next(iter(BatchIterator(data, 8, shuffle=False, mean=0.5, std=0.25)))
    torch.testing.assert_close(x.flatten(), (y.float() / 255 - 0.5) / 0.25)


def test_shards_are_disjoint_and_cover():
    shards = [shard_indices(10, rank, 3) for rank in range(3)]
    assert all(len(s) == 4 for s in shards)
    assert set(torch.cat(shards).tolist()) == set(range(10))
    assert len(set(torch.cat([s[:3] for s in shards]).tolist())) == 9


def test_fashion_train_split_shapes():
    train = load_fashion_mnist("train")
    assert tuple(train.images.shape) == (60000, 1, 28, 28)
    assert np.bincount(train.labels.numpy()).tolist() == [6000] * 10
