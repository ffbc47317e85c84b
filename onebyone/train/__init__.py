"""Training and evaluation on real data: `train(TrainConfig(...)) -> TrainResult`, exact resume
from safetensors checkpoints, DistributedDataParallel under torchrun. A run folder is opened again
with `onebyone.runs.open_run`."""

from onebyone.train.config import TrainConfig
from onebyone.train.loop import EMA, TrainingDiverged, TrainResult, accuracy, lr_at, predict, train
from onebyone.train.run import RunData, load_data

__all__ = [
    "EMA",
    "RunData",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "accuracy",
    "load_data",
    "lr_at",
    "predict",
    "train",
]
