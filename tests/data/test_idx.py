"""The IDX reader: real Fashion-MNIST files parse; damaged files fail with the file and the problem."""

import gzip
import struct

import numpy as np
import pytest

from onebyone.data import FASHION_MNIST_DIR, load_fashion_mnist, parse_idx, read_idx, write_idx
from onebyone.errors import OneByOneError
from tests.helpers import needs_fashion


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int8", ">i2", ">i4", ">f4", ">f8"])
def test_round_trip_keeps_shape_dtype_and_values(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = write_idx(array, tmp_path / "a.idx", compress=compress)
    back = read_idx(path)
    assert back.shape == (2, 3, 5) and back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, array)


def header(code: int, *dims: int) -> bytes:
    return struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


# (name, bytes, expected words in the message)
BAD_FILES = [
    ("empty", b"", "too short"),
    ("wrong-magic", b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number 0x12340801"),
    ("unknown-type", header(0x0A, 2) + b"\x00\x00", "unknown IDX type code 0x0a"),
    ("zero-dims", struct.pack(">HBB", 0, 8, 0), "0 dimensions"),
    ("short-header", header(0x08, 4, 4)[:9], "truncated header"),
    ("zero-size", header(0x08, 0, 4), "zero-sized dimension"),
    ("truncated", header(0x08, 3, 4) + bytes(11), "truncated: shape (3, 4) needs 12 data bytes, found 11"),
    ("extra", header(0x08, 3, 4) + bytes(13), "1 extra bytes"),
    ("truncated-int32", header(0x0C, 2) + bytes(7), "needs 8 data bytes, found 7"),
]


@pytest.mark.parametrize(("name", "raw", "words"), BAD_FILES, ids=[row[0] for row in BAD_FILES])
def test_bad_file_names_file_and_problem(tmp_path, name, raw, words):
    path = tmp_path / f"{name}-idx1-ubyte"
    path.write_bytes(raw)
    with pytest.raises(OneByOneError) as exc:
        read_idx(path)
    assert str(path) in str(exc.value) and words in str(exc.value)


def test_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(header(0x08, 100) + bytes(range(100)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "noise.gz").write_bytes(good[:10] + b"\xff" * 40)
    for name in ("cut.gz", "noise.gz"):
        with pytest.raises(OneByOneError, match="corrupt gzip stream"):
            read_idx(tmp_path / name)


def test_missing_file_and_wrong_rank(tmp_path):
    with pytest.raises(OneByOneError, match="file not found"):
        read_idx(tmp_path / "nope")
    path = write_idx(np.zeros((2, 2), np.uint8), tmp_path / "m")
    with pytest.raises(OneByOneError, match="expected 3 dimensions, header declares 2"):
        read_idx(path, expected_ndim=3)
    assert parse_idx((tmp_path / "m").read_bytes()).shape == (2, 2)


@needs_fashion
def test_real_fashion_mnist_files_parse():
    images = read_idx(FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz")
    labels = read_idx(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    test = load_fashion_mnist("test")
    assert tuple(test.images.shape) == (10000, 1, 28, 28) and len(test.classes) == 10
    assert (test.labels.bincount() == 1000).all()  # the test set is balanced


@needs_fashion
def test_data_dir_with_a_damaged_file_fails_naming_it(tmp_path):
    # A copy of the real test split, gunzipped, with the image file cut short.
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = gzip.decompress((FASHION_MNIST_DIR / f"{stem}.gz").read_bytes())
        (tmp_path / stem).write_bytes(raw[:-100] if "images" in stem else raw)
    with pytest.raises(OneByOneError) as exc:
        load_fashion_mnist("test", tmp_path)
    assert "t10k-images-idx3-ubyte" in str(exc.value) and "truncated" in str(exc.value)
    with pytest.raises(OneByOneError, match="has no train-images-idx3-ubyte"):
        load_fashion_mnist("train", tmp_path)
    with pytest.raises(OneByOneError, match="not found"):
        load_fashion_mnist("test", tmp_path / "missing")


def test_image_and_label_counts_must_agree(tmp_path):
    write_idx(np.zeros((5, 28, 28), np.uint8), tmp_path / "t10k-images-idx3-ubyte")
    write_idx(np.zeros((4,), np.uint8), tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(OneByOneError, match="has 5 images but t10k-labels-idx1-ubyte has 4 labels"):
        load_fashion_mnist("test", tmp_path)
