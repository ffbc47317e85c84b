"""A `Run`: a model together with what comes with it — weights, data, preprocessing, class names.

Every command that takes RUN_OR_MODEL works on a Run: a run folder opened by `open_run` (a training
run, a compressed run, a converted model), or a bare zoo/user model spec (`kind == "model"`: no
weights of its own, no data set unless one fits its input).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from onebyone.data import ImageDataset, crop_photo, get_dataset, list_datasets, load_splits, standardise
from onebyone.errors import OneByOneError
from onebyone.train.config import TrainConfig
from onebyone.train.data_record import check_same_data
from onebyone.train.run import RunData, load_data


@dataclass
class Run:
    """A model and what comes with it.

    Attributes:
        name: the folder path or the model spec, for messages and titles.
        kind: the run-folder format ("training", "compressed", "converted") or "model".
        spec: how the base model is built: {"model": zoo name or user code, "model_overrides": {...}}.
        input_size: (C, H, W) the model takes; None when unknown (user code: give --input).
        config: the training configuration behind the weights (data, normalisation, recipe), if any.
        path: the run folder; None for a bare model.
        record: the format's own description (factorized.json, fc2conv.json), as read.
        mean, std: input normalisation for models without a config (e.g. pretrained zoo weights).
        known_classes: class names for models without a config (e.g. ImageNet for pretrained weights).
        probabilities: the outputs are probabilities already (a Caffe deploy net ending in Softmax).
        bgr: the model takes colour channels in BGR order (Caffe nets, trained on OpenCV's images).
        data_record: what the image folder it was trained on held (data.json, checked by `data`);
            None for other data sets and for runs written before data.json existed.
    """

    name: str
    kind: str
    spec: dict
    build: Callable[[], nn.Module] = field(repr=False)
    input_size: tuple[int, int, int] | None = None
    config: TrainConfig | None = None
    path: Path | None = None
    record: dict = field(default_factory=dict, repr=False)
    mean: tuple[float, ...] | float | None = None
    std: tuple[float, ...] | float | None = None
    known_classes: tuple[str, ...] | None = None
    crop_padding: int = 0  # margin cut off around a photo's centre crop (32 for ImageNet weights)
    probabilities: bool = False  # the model's outputs are already probabilities (a Caffe net's Softmax)
    bgr: bool = False  # colour channels in BGR order (Caffe); photos are RGB and are swapped
    data_record: dict | None = field(default=None, repr=False)
    _model: nn.Module | None = field(default=None, repr=False)
    _data: RunData | None = field(default=None, repr=False)
    _test: ImageDataset | None = field(default=None, repr=False)

    def model(self) -> nn.Module:
        """The model, in eval mode on the CPU (built once; copy it before changing it)."""
        if self._model is None:
            self._model = self.build().eval()
        return self._model

    @property
    def is_folder(self) -> bool:
        return self.path is not None

    def normalisation(self) -> tuple[Tensor, Tensor]:
        """(mean, std) as (1, C or 1, 1, 1) tensors, in units of pixels scaled to [0, 1]."""
        mean, std = self.mean, self.std
        if self.config is not None and self.config.mean is not None and self.config.std is not None:
            mean, std = self.config.mean, self.config.std
        if (mean is None or std is None) and self.path is not None:
            raise OneByOneError(
                f"{self.name!r} records no training configuration and no input transform (train_config is "
                "null): the input normalisation of its weights is unknown"
            )
        if mean is None or std is None:
            mean, std = 0.0, 1.0
        return (
            torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1),
            torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1),
        )

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 (N, C, H, W) images → the float input the model was trained on (RGB photos become
        BGR for a model that takes BGR)."""
        if self.bgr and images.shape[1] == 3:
            images = images.flip(1)
        mean, std = self.normalisation()
        return standardise(images, mean.flatten().tolist(), std.flatten().tolist())

    def photo(
        self, path: str | Path, size: tuple[int, int] | None = None, channels: int | None = None
    ) -> Tensor:
        """(1, C, H, W) uint8: a photo of any size scaled and centre-cropped to the model's input (or
        `size`, in `channels`), as the model's data was prepared; `preprocess` turns it into the model's
        input."""
        if self.input_size is None and size is None:
            raise OneByOneError(f"{self.name}: give the input size with --input CxHxW")
        if channels is None:
            channels = self.input_size[0] if self.input_size else 3
        return crop_photo(
            path, size=size or self.input_size[1:], channels=channels, crop_padding=self.crop_padding
        )

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, index = output; () when nothing says what the outputs mean."""
        if self.known_classes is not None:
            return self.known_classes
        if self.data_record is not None:  # an image folder's classes as trained on, whatever it holds now
            return tuple(self.data_record["classes"])
        if self.config is not None:
            entry, argument = get_dataset(self.config.data)
            return entry.class_names(argument)
        fitting = self._fitting_dataset()
        return fitting.class_names() if fitting is not None else ()

    def data(self) -> RunData:
        """The run's train/validation/test splits, loaded once."""
        if self.config is None:
            made = {"compressed": "was compressed", "converted": "was converted"}.get(self.kind)
            if made:
                raise OneByOneError(
                    f"{self.name!r} {made} from a bare model spec, not a training run: it has no data set"
                )
            raise OneByOneError(f"{self.name} has no data set (it is not a training run); give a run folder")
        if self._data is None:
            data = load_data(self.config)
            trained = self.config.model_overrides.get("num_classes")
            if trained is not None and trained != len(data.classes):  # an image folder changed since
                shown = ", ".join(data.classes[:5]) + (", …" if len(data.classes) > 5 else "")
                raise OneByOneError(
                    f"{self.config.data} now has {len(data.classes)} classes ({shown}); the run's model "
                    f"was trained on {trained}"
                )
            if self.data_record is not None:  # the image folder as it was when training started
                check_same_data(self.data_record, data.source, self.config.data)
            self._data = data
        return self._data

    def evaluate(self, model: nn.Module) -> float:
        """Test accuracy of `model` (this run's or a changed copy) on the run's test split, its way."""
        from onebyone.train import accuracy

        return accuracy(model, self.data().test, self.config)

    def finetune(self, model: nn.Module, epochs: int) -> nn.Module:
        """Fine-tune `model` (e.g. a factorised copy) on the run's training split with its recipe."""
        from onebyone.surgery.finetune import finetune

        config = dataclasses.replace(self.config, progress=False)
        return finetune(model, self.data(), config, epochs)

    def test_set(self) -> ImageDataset:
        """The run's test split; for a bare model, the test split of the data set that fits its input."""
        if self.config is not None:
            return self.data().test
        if self._test is None:
            fitting = self._fitting_dataset()
            if fitting is None:
                size = "x".join(map(str, self.input_size)) if self.input_size else "unknown"
                raise OneByOneError(
                    f"{self.name} takes {size} input and has no data set; "
                    "give a training run folder (or --image for one image)"
                )
            self._test = load_splits(fitting.name, input_size=self.input_size)[1]
        return self._test

    def _fitting_dataset(self):
        """The registered data set whose images have exactly this model's input size."""
        for entry in list_datasets():
            if entry.input_size is not None and entry.input_size == self.input_size:
                return entry
        return None
