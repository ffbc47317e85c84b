"""The trained nin-fashion variants the report compares (C3, C5, C9, C13, C14), as data.

Every variant is the same network with one builder option changed, trained with one recipe
(ReportConfig: images, epochs, width, augmentation) once per seed. The seed decides the
initialisation, the batch order and which training images are drawn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.records import Float, Int, Obj, check, check_version, json_text, read_json
from onebyone.stats import Estimate, mean_interval

if TYPE_CHECKING:
    from onebyone.train import TrainConfig


@dataclass(frozen=True)
class Variant:
    key: str  # folder name prefix in OUT/models/
    name: str  # as the page names it
    overrides: dict = field(default_factory=dict)  # nin-fashion builder options
    model: str = "nin-fashion"  # zoo name
    recipe: dict = field(default_factory=dict)  # TrainConfig fields this variant trains with instead


VARIANTS: dict[str, Variant] = {
    v.key: v
    for v in (
        Variant("gap", "NIN, GAP head"),  # mlpconv stages, global average pooling (the NIN design)
        Variant("no1x1", "no 1×1 layers, GAP head", {"pointwise_layers": 0}),
        # C3's parameter-matched control: the same 1×1 layers, a ReLU only at each stage's end, so
        # each mlpconv is linear up to it (composes into one k×k conv; claim C15 shows how)
        Variant("linear1x1", "1×1 layers without ReLU, GAP head", {"pointwise_relu": False}),
        Variant("fc", "NIN, FC head", {"head": "fc", "dropout": 0.0}),  # flatten → Linear
        Variant("fc-dropout", "NIN, FC head + dropout", {"head": "fc"}),  # flatten → dropout 0.5 → Linear
        # As in the NIN paper: no batch norm. He init and AdamW (lr 0.002), chosen on validation images
        # (docs/report.md): with torch's default init, or SGD at any peak lr tried, it stays at chance.
        Variant(
            "gap-nobn",
            "NIN without batch norm, GAP head",
            {"batch_norm": False, "init": "he"},
            recipe={"optimizer": "adamw", "lr": 0.002},
        ),
    )
}


@dataclass
class Scores:
    """Accuracy (fraction) and mean cross-entropy of a model on one split, in eval mode."""

    accuracy: float
    loss: float


SCORES_FILE = "report-scores.json"  # in a cached model's folder: its train and test Scores
SCORES_SCHEMA_VERSION = 1
_SCORES = Obj({"accuracy": Float(0, 1), "loss": Float(0)})
SCORES_SCHEMA = Obj({"schema_version": Int(1, SCORES_SCHEMA_VERSION), "train": _SCORES, "test": _SCORES})


def save_scores(folder: Path, train: Scores, test: Scores) -> None:
    """report-scores.json, checked against SCORES_SCHEMA as `load_scores` checks it."""
    from onebyone.files import atomic_write_text

    payload = {
        "schema_version": SCORES_SCHEMA_VERSION,
        "train": dataclasses.asdict(train),
        "test": dataclasses.asdict(test),
    }
    check(payload, SCORES_SCHEMA, f"{SCORES_FILE} to write")
    atomic_write_text(folder / SCORES_FILE, json_text(payload) + "\n")


def load_scores(folder: Path) -> tuple[Scores, Scores] | None:
    """The (train, test) Scores saved beside a cached model, or None when there are none that fit
    SCORES_SCHEMA (damaged, out of range, another version): the report then measures them again."""
    path = folder / SCORES_FILE
    try:
        payload = check_version(read_json(path, "report scores"), SCORES_SCHEMA_VERSION, str(path))
        check(payload, SCORES_SCHEMA, str(path))
    except OneByOneError:
        return None
    return Scores(**payload["train"]), Scores(**payload["test"])


@dataclass
class TrainedModel:
    variant: Variant
    seed: int
    model: nn.Module  # eval mode, float32, on the report's device
    config: TrainConfig  # the run's (mean/std resolved)
    parameters: int
    train: Scores  # on the images it was trained on (no augmentation, no dropout)
    test: Scores
    train_seconds: float | None  # None when loaded from the cache
    run_dir: Path


@torch.inference_mode()
def scores(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    preprocess: Callable[[Tensor], Tensor],
    batch: int = 1000,
) -> Scores:
    """Plain (no flip) accuracy and cross-entropy of `model` on uint8 `images` (N, C, H, W), each
    batch turned into the model's input by `preprocess` (the run's normalisation).

    The forward pass runs under bf16 autocast with channels_last, as in training (several times
    faster on CPU than float32); the loss is taken on float32 logits.
    """
    model.eval()
    device = next(model.parameters()).device
    correct, loss = 0, 0.0
    for start in range(0, len(images), batch):
        x = preprocess(images[start : start + batch]).to(device)  # (B, C, H, W)
        y = labels[start : start + batch].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(x.contiguous(memory_format=torch.channels_last)).float()  # (B, classes)
        correct += int((logits.argmax(1) == y).sum())
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
    return Scores(correct / len(images), loss / len(images))


# --- estimates over seeds, in percentage points (accuracy) and nats (loss) ----------------------


Metric = Callable[[TrainedModel], float]


def accuracy_gap(run: TrainedModel) -> float:
    """Train − test accuracy, in points: how much the model overfits."""
    return 100 * (run.train.accuracy - run.test.accuracy)


def loss_gap(run: TrainedModel) -> float:
    """Test − train cross-entropy."""
    return run.test.loss - run.train.loss


def test_accuracy(run: TrainedModel) -> float:
    return 100 * run.test.accuracy


def over_seeds(runs: list[TrainedModel], metric: Metric) -> Estimate:
    return mean_interval([metric(run) for run in runs], over="seeds")


def paired_difference(first: list[TrainedModel], second: list[TrainedModel], metric: Metric) -> Estimate:
    """metric(first) − metric(second), seed by seed (the same seed draws the same training images)."""
    if [r.seed for r in first] != [r.seed for r in second]:
        raise ValueError("paired runs must have the same seeds in the same order")
    return mean_interval([metric(a) - metric(b) for a, b in zip(first, second, strict=True)], over="seeds")
