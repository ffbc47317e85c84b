"""The small real training settings the train tests share: a few hundred images, seconds per run."""

from onebyone.train import TrainConfig


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
