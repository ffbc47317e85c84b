"""The checkpoint record `train --resume` reads: checked against its schema, its own history and the run."""

import pytest

from onebyone.errors import OneByOneError
from onebyone.train.checkpoint_info import check_fits_run, check_info

ROW = {"lr": 0.1, "train_loss": 2.0, "train_accuracy": 0.5, "val_accuracy": 0.4, "images_per_second": 9.0,
       "epoch_seconds": 1.0}  # fmt: skip
CONFIG = {"epochs": 2, "val_size": 16, "seed": 0, "lr": 0.1, "out": "here", "tta_flip": True}


def info(epochs: int, **changes) -> dict:
    history = [{"epoch": e, "step": 2 * e, **ROW} for e in range(1, epochs + 1)]
    group = {"params": [0, 1], "lr": 0.1, "momentum": 0.9}
    record = {"epoch": epochs, "step": 2 * epochs, "history": history,
              "optimizer": {"param_groups": [group], "scalars": {}}, "config": dict(CONFIG)}  # fmt: skip
    return {**record, **changes}


def test_a_checkpoint_of_this_run_fits():
    check_fits_run(check_info(info(2), "c"), CONFIG, "c")
    moved = {**CONFIG, "out": "elsewhere", "lr": 0.05}  # a moved folder; a resume with a new --lr
    check_fits_run(check_info(info(1), "c"), moved, "c")


@pytest.mark.parametrize(
    "record, words",
    [
        (info(2, epoch=1), "epoch 1 but 2 history rows"),
        (info(2, step=5), "step 5 but the last history row ends at step 4"),
        (info(1, history=[{"epoch": 2, "step": 2, **ROW}]), "history[0].epoch must be 1, got 2"),
        (info(1, epoch=0, history=[]), "epoch must be an integer from 1"),
        (info(1, step=True), "step must be an integer"),
    ],
)
def test_a_record_at_odds_with_itself_is_refused(record, words):
    with pytest.raises(OneByOneError, match=words.replace("[", r"\[").replace("]", r"\]")):
        check_info(record, "c")


@pytest.mark.parametrize(
    "record, config, words",
    [
        (info(3), CONFIG, "epoch 3 is past the run's last epoch \\(2\\)"),
        (info(1), {**CONFIG, "seed": 1}, "not this run's checkpoint: its seed is 0, config.json's 1"),
        (info(1), {**CONFIG, "tta_flip": 1}, "its tta_flip is True, config.json's 1"),
        (
            info(1, history=[{"epoch": 1, "step": 2, **ROW, "val_accuracy": None}]),
            CONFIG,
            "no val_accuracy, but the run holds out validation images",
        ),
    ],
)
def test_a_checkpoint_of_another_run_is_refused(record, config, words):
    with pytest.raises(OneByOneError, match=words):
        check_fits_run(check_info(record, "c"), config, "c")
