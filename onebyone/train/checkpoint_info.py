"""What a checkpoint's JSON part may hold, and whether it belongs to the run it is resumed in.

`train --resume` used to take the checkpoint's epoch, step and history as they were: an epoch of -5
trained 7 epochs, an epoch past the end trained none and saved the weights as finished, a history
row without its accuracy failed after the training, a step shifted the learning-rate schedule, and a
checkpoint copied from another run's folder continued with that run's recipe, all with exit code 0.
Now the record is checked against `CHECKPOINT_INFO` when read (`check_info`) and against the run's
config.json when resumed (`check_fits_run`): one line naming the file and the field.
"""

from __future__ import annotations

from onebyone.errors import OneByOneError
from onebyone.records import Either, Float, Int, ListOf, MapOf, Obj, Optional, Plain, check, same_json

MAX_EPOCHS = 2**31 - 1  # TrainConfig's bound on epochs
MAX_STEPS = 2**62

HISTORY_ROW = Obj(
    {
        "epoch": Int(1, MAX_EPOCHS),
        "step": Int(1, MAX_STEPS),
        "lr": Float(0),
        "train_loss": Float(0),
        "train_accuracy": Float(0, 1),
        "val_accuracy": Optional(Float(0, 1)),  # null when the run holds out no validation images
        "images_per_second": Optional(Float(0)),  # measurements: null is how a non-finite one is written
        "epoch_seconds": Optional(Float(0)),
    }
)
# torch's own fields of a parameter group (lr, momentum, betas…): compared with the recipe's on resume
# (the lr is set again before every step; the others must be the recipe's: `optimizer_problems`)
PARAM_GROUP = Obj({"params": ListOf(Int(0, 2**31), 0, 2**24), "lr": Float(0)}, extra=Plain())
CHECKPOINT_INFO = Obj(
    {
        "epoch": Int(1, MAX_EPOCHS),
        "step": Int(1, MAX_STEPS),
        "history": ListOf(HISTORY_ROW, 1),
        "optimizer": Obj({"param_groups": ListOf(PARAM_GROUP, 1, 64), "scalars": MapOf(Plain())}),
        "config": MapOf(Either(Plain(), MapOf(Plain(), 1000)), 200),  # its fields: TrainConfig's
    }
)
# Settings a resumed run may change (RunWriter's RESUME_MAY_CHANGE), and the peak lr `--lr` may set.
MAY_DIFFER = ("out", "resume", "overwrite", "resume_lr", "stop_after_epoch", "progress", "device", "lr")


def check_info(info: object, where: str) -> dict:
    """`info` if it fits CHECKPOINT_INFO and its history agrees with its epoch and step."""
    check(info, CHECKPOINT_INFO, where)
    assert isinstance(info, dict)  # for the type checker: the schema says so
    history, epoch, step = info["history"], info["epoch"], info["step"]
    if len(history) != epoch:
        raise OneByOneError(f"{where}: epoch {epoch} but {len(history)} history rows")
    for index, row in enumerate(history):
        if row["epoch"] != index + 1:
            raise OneByOneError(f"{where}: history[{index}].epoch must be {index + 1}, got {row['epoch']}")
        if index and row["step"] <= history[index - 1]["step"]:
            raise OneByOneError(f"{where}: history[{index}].step must be past the step before it")
    if history[-1]["step"] != step:
        raise OneByOneError(
            f"{where}: step {step} but the last history row ends at step {history[-1]['step']}"
        )
    return info


def check_fits_run(info: dict, config: dict, where: str) -> None:
    """The checkpoint `info` (checked) was written by the run whose config.json holds `config`: its
    epoch is within the run's epochs and its settings are the run's, but for those a resume may change."""
    if info["epoch"] > config["epochs"]:
        raise OneByOneError(
            f"{where}: epoch {info['epoch']} is past the run's last epoch ({config['epochs']})"
        )
    if (
        isinstance(config["val_size"], int)
        and config["val_size"] > 0
        and any(row["val_accuracy"] is None for row in info["history"])
    ):
        raise OneByOneError(
            f"{where}: a history row has no val_accuracy, but the run holds out validation images"
        )
    saved = info["config"]
    differing = sorted(
        name
        for name in set(saved) | set(config)
        if name not in MAY_DIFFER and not same_json(saved.get(name), config.get(name))
    )
    if differing:
        name = differing[0]
        raise OneByOneError(
            f"{where}: not this run's checkpoint: its {name} is {saved.get(name)!r:.60}, config.json's "
            f"{config.get(name)!r:.60}"
            + (f" (and {len(differing) - 1} more settings)" if len(differing) > 1 else "")
        )
