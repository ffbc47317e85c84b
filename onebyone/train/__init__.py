"""Training and evaluation on real data: `train(TrainConfig(...)) -> TrainResult`, exact resume
from safetensors checkpoints, DistributedDataParallel under torchrun, and `load_run` to get a
trained model back from its run folder."""

from onebyone.train.config import TrainConfig
from onebyone.train.evaluate import accuracy, predict
from onebyone.train.guard import TrainingDiverged
from onebyone.train.loop import TrainResult, train
from onebyone.train.recipe import EMA, build_optimizer, lr_at
from onebyone.train.run import RunData, load_data, load_run

__all__ = [
    "EMA",
    "RunData",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "accuracy",
    "build_optimizer",
    "load_data",
    "load_run",
    "lr_at",
    "predict",
    "train",
]
