"""Shared state of one report run: settings, figure folder, timing, and the trained-model cache.

Trained models live in `<out>/models/<variant>-seed<k>/` as ordinary training runs (so
`onebyone eval` and `onebyone inspect` work on them too). A run whose recorded settings equal
the ones asked for is loaded instead of trained again: a second report in the same folder skips
the training.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from onebyone.report.config import ReportConfig

# The trained ablations: nin-fashion's builder options for each variant.
VARIANTS: dict[str, dict] = {
    "gap": {},  # mlpconv stages, global-average-pooling head (the NIN design)
    "fc": {"head": "fc"},  # same body, flatten → dropout → Linear head
    "no1x1": {"pointwise_layers": 0},  # plain conv stages: no 1×1 layers, the last conv gives the classes
}
VARIANT_NAMES = {
    "gap": "NIN, GAP head",
    "fc": "NIN, FC head",
    "no1x1": "no 1×1 layers, GAP head",
}
TRAIN_ACCURACY_IMAGES = 5000  # training images re-evaluated (eval mode, no augmentation) for the gap
_CACHE_KEYS = ("model", "model_overrides", "epochs", "subset", "seed", "data", "batch_size", "lr")


@dataclass
class TrainedModel:
    variant: str
    seed: int
    model: nn.Module  # eval mode, CPU
    config: object  # the run's TrainConfig (mean/std resolved)
    parameters: int
    train_accuracy: float  # on up to TRAIN_ACCURACY_IMAGES training images, eval mode
    test_accuracy: float
    train_seconds: float | None  # None when loaded from the cache
    run_dir: Path


class ReportContext:
    def __init__(self, config: ReportConfig, status: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.out = Path(config.out)
        self.figures = self.out / "figures"
        self.figures.mkdir(parents=True, exist_ok=True)
        self.status = status or (lambda message: None)
        self.notes: list[str] = []
        self.shared: dict = {}  # measurements one claim passes to a later one (e.g. C6's ratios to C10)
        self._trained: dict[tuple[str, int], TrainedModel] = {}
        self._data: dict = {}

    # --- figures and timing ---

    def figure_path(self, name: str) -> Path:
        return self.figures / f"{name}.png"

    def latency(self, module: nn.Module, x: Tensor) -> float:
        """Median seconds of one eager forward pass on this machine (inference mode)."""
        from onebyone.analysis.timing import median_seconds

        module.eval()
        with torch.inference_mode():
            return median_seconds(lambda: module(x), warmup=2, repeats=self.config.latency_repeats)

    # --- data and trained models ---

    def train_config(self, variant: str, seed: int):
        from onebyone.train import TrainConfig

        settings = self.config
        return TrainConfig(
            model="nin-fashion",
            model_overrides={"width": settings.width, **VARIANTS[variant]},
            data_dir=settings.data_dir,
            epochs=settings.epochs,
            subset=settings.train_subset,
            test_size=settings.test_size,
            seed=seed,
            progress=False,
        )

    def data(self, config):
        """The run's splits, loaded once per (seed, subset, test size)."""
        from onebyone.train import load_data

        key = (config.seed, config.subset, config.test_size, config.data_dir)
        if key not in self._data:
            self._data[key] = load_data(config)
        return self._data[key]

    def trained(self, variant: str, seed: int = 0) -> TrainedModel:
        """The nin-fashion `variant` trained with `seed`: from the cache folder, or trained now."""
        if (variant, seed) in self._trained:
            return self._trained[(variant, seed)]
        from onebyone.runs import open_run
        from onebyone.train import accuracy, train

        wanted = self.train_config(variant, seed)
        run_dir = self.out / "models" / f"{variant}-seed{seed}"
        model, config, seconds = None, None, None
        if (run_dir / "model.safetensors").is_file():
            run = open_run(run_dir)
            saved = run.config
            resolved = dict(saved.model_overrides)
            same = all(getattr(saved, k) == getattr(wanted, k) for k in _CACHE_KEYS if k != "model_overrides")
            if same and all(resolved.get(k) == v for k, v in wanted.model_overrides.items()):
                model, config = run.model(), saved
                config.test_size, config.data_dir = wanted.test_size, wanted.data_dir
                self.notes.append(f"{variant} seed {seed}: loaded from {run_dir}")
        if model is None:
            if run_dir.exists():  # an unfinished or different run of ours: start again
                shutil.rmtree(run_dir)
            self.status(f"training nin-fashion ({VARIANT_NAMES[variant]}), seed {seed}")
            wanted.out = str(run_dir)
            result = train(wanted)
            model, config, seconds = result.model.eval(), result.config, result.seconds
        data = self.data(config)
        head = data.train.subset(torch.arange(min(TRAIN_ACCURACY_IMAGES, len(data.train))), "train-head")
        trained = TrainedModel(
            variant=variant,
            seed=seed,
            model=model.float().to(memory_format=torch.contiguous_format),
            config=config,
            parameters=sum(p.numel() for p in model.parameters()),
            train_accuracy=accuracy(model, head, config),
            test_accuracy=accuracy(model, data.test, config),
            train_seconds=seconds,
            run_dir=run_dir,
        )
        self._trained[(variant, seed)] = trained
        return trained

    def test_images(self, config, count: int) -> tuple[Tensor, Tensor, object]:
        """The first `count` test images, normalised as the model was trained, their labels, classes."""
        from onebyone.train.run import normalise

        test = self.data(config).test
        count = min(count, len(test))
        return normalise(test.images[:count], config), test.labels[:count], test
