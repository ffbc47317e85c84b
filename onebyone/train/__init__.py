"""Training and evaluation on real data: `train(TrainConfig(...)) -> TrainResult`, exact resume
from safetensors checkpoints, DistributedDataParallel under torchrun, and `load_run` to get a
trained model back from its run folder."""

from onebyone.train.config import TrainConfig
from onebyone.train.loop import EMA, TrainingDiverged, TrainResult, accuracy, lr_at, predict, train
from onebyone.train.run import RunData, load_data, load_run

__all__ = [
    "EMA",
    "RunData",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "accuracy",
    "load_data",
    "load_run",
    "lr_at",
    "predict",
    "train",
]
