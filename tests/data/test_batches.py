"""BatchIterator.from_config: the batches a training recipe asks for, and seeds of any size torch takes."""

from types import SimpleNamespace

import torch

from onebyone.data import BatchIterator, ImageDataset


def _data(n: int = 50) -> ImageDataset:
    images = torch.arange(n * 16, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(n, 1, 4, 4)
    return ImageDataset(images, torch.arange(n), tuple(str(i) for i in range(n)))  # label = index


def _recipe(**changes) -> SimpleNamespace:
    fields = dict(
        batch_size=16, augment=True, crop_padding=1, hflip=True, erase=0.0, mean=0.5, std=0.25, seed=3
    )
    return SimpleNamespace(**{**fields, **changes})


def test_evaluation_batches_are_in_order_plain_and_complete():
    data = _data()
    batches = BatchIterator.from_config(data, _recipe(), training=False, batch_size=20)
    xs, ys = zip(*batches, strict=True)
    assert [len(y) for y in ys] == [20, 20, 10]
    assert torch.equal(torch.cat(ys), data.labels)
    torch.testing.assert_close(torch.cat(xs), (data.images.float() / 255 - 0.5) / 0.25, rtol=0, atol=0)


def test_training_batches_follow_the_recipe():
    data = _data()
    batches = BatchIterator.from_config(data, _recipe())
    assert len(batches) == 3  # 50 images ≥ 2 batches of 16: the partial last batch is dropped
    assert len(BatchIterator.from_config(_data(20), _recipe())) == 2  # 20 < 32: it is kept
    first = [y for _, y in batches]
    assert all(len(y) == 16 for y in first)
    again = [y for _, y in BatchIterator.from_config(data, _recipe())]
    other = [y for _, y in BatchIterator.from_config(data, _recipe(seed=4))]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    # augmentation as configured: without it, a batch is exactly its normalised images
    plain = (data.images.float() / 255 - 0.5) / 0.25
    x, y = next(iter(BatchIterator.from_config(data, _recipe(augment=False))))
    torch.testing.assert_close(x, plain[y], rtol=0, atol=0)
    x, y = next(iter(BatchIterator.from_config(data, _recipe())))
    assert not torch.equal(x, plain[y])  # cropped and flipped


def test_ranks_take_disjoint_shards():
    data = _data(48)
    shards = [BatchIterator.from_config(data, _recipe(batch_size=8), rank=r, world_size=2) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 3
    seen = torch.cat([y for shard in shards for _, y in shard])
    assert sorted(seen.tolist()) == list(range(48))


def test_seeds_up_to_what_torch_takes_wrap_instead_of_overflowing():
    data = _data()
    for seed in (2**63 - 1, 2**64 - 1):
        batches = BatchIterator.from_config(data, _recipe(seed=seed, erase=0.5))
        batches.set_epoch(10**6)
        assert sum(len(y) for _, y in batches) == 48
    # seeds are taken modulo 2**64, as torch.Generator.manual_seed takes them
    small = [y for _, y in BatchIterator.from_config(data, _recipe(seed=12))]
    wrapped = [y for _, y in BatchIterator.from_config(data, _recipe(seed=12 + 2**64))]
    assert all(torch.equal(a, b) for a, b in zip(small, wrapped, strict=True))
