"""Training and evaluation on real data: `train(TrainConfig(...)) -> TrainResult`, exact resume
from safetensors checkpoints, DistributedDataParallel under torchrun. A run folder is opened again
with `onebyone.runs.open_run`."""

from onebyone.train.config import TrainConfig
from onebyone.train.evaluate import accuracy, predict
from onebyone.train.guard import TrainingDiverged
from onebyone.train.loop import TrainResult, train
from onebyone.train.recipe import EMA, build_optimizer, lr_at
from onebyone.train.run import RunData, load_data

__all__ = [
    "EMA",
    "RunData",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "accuracy",
    "build_optimizer",
    "load_data",
    "lr_at",
    "predict",
    "train",
]
