import pytest

from onebyone.data import FASHION_MNIST_DIR
from onebyone.train import TrainConfig

if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
    pytest.skip("Fashion-MNIST not installed", allow_module_level=True)


def small_config(**changes) -> TrainConfig:
    """A few hundred real Fashion-MNIST images and a quarter-width nin-fashion: seconds per run."""
    base = dict(
        subset=160,
        val_size=64,
        epochs=2,
        batch_size=32,
        model_overrides={"width": 0.25},
        progress=False,
        seed=1,
        test_size=200,
    )
    base.update(changes)
    return TrainConfig(**base)


# The command-line form of small_config (one epoch unless --epochs is given again).
SMALL_ARGS = [
    "--subset", "160", "--val-size", "64", "--test-size", "200", "--batch-size", "32",
    "--set", "width=0.25", "--seed", "1", "--no-progress",
]  # fmt: skip


def one_error_line(capsys) -> str:
    """stderr of a failed command: exactly one line, no traceback."""
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err
