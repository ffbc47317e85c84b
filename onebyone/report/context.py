"""Shared state of one report run: settings, device, figure folder, data, timing, trained models, and
what one claim measures for another (typed fields: `inception_cost`, `bottleneck_cost`, `photos`,
`collages`).

Every use of the training package goes through `ReportContext` (`_train_config`, `_load_run`,
`_train`, `_run_data`), so a new run loader is switched in here only.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.report.cache import cached_run, train_into_cache
from onebyone.report.config import ReportConfig
from onebyone.report.pairs import PairCost
from onebyone.report.parallel import plan, train_in_parallel
from onebyone.report.photos import Collages, PhotoSet, Unavailable, load_photos, make_collages, missing
from onebyone.report.variants import VARIANTS, Scores, TrainedModel, load_scores, save_scores, scores

if TYPE_CHECKING:
    from onebyone.data import ImageDataset
    from onebyone.train import TrainConfig, TrainResult
    from onebyone.train.run import RunData

# TrainConfig fields that do not change the trained model: left out of the cache key.
_NOT_IN_CACHE_KEY = ("out", "progress", "device")


def resolve_device(name: str) -> torch.device:
    """cpu, cuda (refused without one), or auto: the GPU when one is present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise OneByOneError(
            f"--device cuda: no CUDA device available (torch {torch.__version__}); use --device cpu"
        )
    return torch.device(name)


class ReportContext:
    def __init__(self, config: ReportConfig, status: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.out = Path(config.out)
        self.figures = self.out / "figures"
        self.figures.mkdir(parents=True, exist_ok=True)
        self.status = status or (lambda message: None)
        self.notes: list[str] = []
        # What C6 and C8 timed, for C10's figure of all three ratios; None until that claim has run.
        self.inception_cost: PairCost | None = None  # C6: Inception 3a naive ÷ with 1×1 reductions
        self.bottleneck_cost: PairCost | None = None  # C8: 256-channel basic block ÷ bottleneck
        self._trained: dict[tuple[str, int], TrainedModel] = {}
        self._fresh: dict[tuple[str, int], float | None] = {}  # trained by worker processes in this run
        self._data: dict[tuple[Any, ...], RunData] = {}

    def figure_path(self, name: str) -> Path:
        return self.figures / f"{name}.png"

    @functools.cached_property
    def photos(self) -> PhotoSet | Unavailable:
        """EfficientNet-Lite0 and the bundled photos (report.photos), loaded on first use for C9, C13
        and C14; Unavailable (what to install) without the weights package or the photos."""
        return missing() or load_photos(self.config.quick, self.status)

    @functools.cached_property
    def collages(self) -> Collages | Unavailable:
        """The photos two by two with their class maps (C9 and C14), made on first use."""
        photos = self.photos
        if isinstance(photos, Unavailable):
            return photos
        return make_collages(photos, self.config.quick, self.status)

    # --- the training package, in one place ---

    def _train_config(self, variant: str, seed: int) -> TrainConfig:
        from onebyone.train import TrainConfig

        c, v = self.config, VARIANTS[variant]
        config = TrainConfig(
            model=v.model,
            model_overrides={"width": c.width, **v.overrides},
            data_dir=c.data_dir,
            val_size=0,  # no per-epoch validation: the report measures on the test set after training
            subset=c.train_subset,
            test_size=c.test_size,
            epochs=c.epochs,
            augment=c.augment,
            label_smoothing=0.0,  # plain cross-entropy, so that train and test losses compare
            tta_flip=False,
            seed=seed,
            device=self.device.type,
            progress=False,
        )
        return dataclasses.replace(config, **v.recipe)

    def _run_data(self, config: TrainConfig) -> RunData:
        from onebyone.train import load_data

        key = (config.seed, config.subset, config.test_size, config.data_dir)
        if key not in self._data:
            self._data[key] = load_data(config)
        return self._data[key]

    def normalise(self, images: Tensor, config: TrainConfig) -> Tensor:
        """uint8 images (N, C, H, W) → the float input a model of the run `config` was trained on."""
        from onebyone.train.run import normalise

        return normalise(images, config)

    def _load_run(self, folder: Path) -> tuple[nn.Module, TrainConfig]:
        """(model, TrainConfig) of a training run folder the report wrote."""
        from onebyone.runs import open_run

        run = open_run(folder)
        if run.config is None:
            raise OneByOneError(f"{folder}: the model cache holds a run without its training config")
        return run.model(), run.config

    def _train(self, config: TrainConfig, folder: Path) -> TrainResult:
        from onebyone.train import train

        config.out = str(folder)
        return train(config)

    # --- data and trained models ---

    def test_split(self, config: TrainConfig | None = None) -> ImageDataset:
        """The test images (the first `test_size`), as the trained models see them."""
        return self._run_data(config or self._train_config("gap", self.config.seeds[0])).test

    def test_images(self, config: TrainConfig, count: int) -> tuple[Tensor, Tensor]:
        """The first `count` test images, normalised as the model was trained (CPU), and their labels."""
        test = self.test_split(config)
        count = min(count, len(test))
        return self.normalise(test.images[:count], config), test.labels[:count]

    def _cached(self, variant: str, seed: int) -> tuple[str, dict[str, Any], Path | None]:
        """(cache folder name, settings, folder if a complete model with these settings is there)."""
        wanted = self._train_config(variant, seed)
        settings = {k: v for k, v in dataclasses.asdict(wanted).items() if k not in _NOT_IN_CACHE_KEY}
        name = f"{variant}-seed{seed}"
        return name, settings, cached_run(self.out / "models", name, settings)

    def ensure_trained(self, variant: str, seed: int) -> tuple[Path, TrainResult | None]:
        """(folder, TrainResult) after training `variant` with `seed` into the cache, or (folder, None)
        when the cache already holds it."""
        name, settings, folder = self._cached(variant, seed)
        if folder is not None:
            return folder, None
        self.status(f"training nin-fashion ({VARIANTS[variant].name}), seed {seed}")
        wanted = self._train_config(variant, seed)
        result: dict[str, TrainResult] = {}  # filled in by train_and_score

        def train_and_score(path: Path) -> None:
            # Scored where it was trained (in a worker process, in parallel with the others), and
            # the scores kept in the folder, so that the report's process only reads them.
            run = result["run"] = self._train(wanted, path)
            save_scores(path, *self._scores(self._on_device(_final_model(run)), run.config))

        folder = train_into_cache(self.out / "models", name, settings, train_and_score)
        return folder, result["run"]

    def _on_device(self, model: nn.Module) -> nn.Module:
        # torch's stubs lack Module.to's memory_format (it exists: channels_last weights back to plain)
        moved = model.float().to(self.device, memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        return moved.eval()

    def _scores(self, model: nn.Module, config: TrainConfig) -> tuple[Scores, Scores]:
        """(train, test) Scores: on the images the model was trained on, and on the test images."""
        data = self._run_data(config)
        preprocess = lambda x: self.normalise(x, config)  # noqa: E731
        return (
            scores(model, data.train.images, data.train.labels, preprocess),
            scores(model, data.test.images, data.test.labels, preprocess),
        )

    def prefetch(self, variants: list[str]) -> None:
        """Train every seed of `variants` that the cache lacks, in parallel worker processes when the
        plan (report.parallel) gives more than one; else they are trained one by one when first used."""
        jobs = [(v, s) for v in variants for s in self.config.seeds if self._cached(v, s)[2] is None]
        workers, threads = plan(self.config.workers, self.device.type, len(jobs))
        if workers < 2:
            return
        started, done = time.perf_counter(), []

        def on_done(variant: str, seed: int, seconds: float | None) -> None:
            self._fresh[(variant, seed)] = seconds
            done.append(variant)
            self.status(f"trained {len(done)} of {len(jobs)} models ({workers} processes)")

        self.status(f"training {len(jobs)} models in {workers} processes of {threads} thread(s)")
        train_in_parallel(train_one, self.config, jobs, workers, threads, on_done)
        self.notes.append(
            f"trained {len(jobs)} models in {workers} processes of {threads} thread(s) each: "
            f"{time.perf_counter() - started:.0f} s"
        )

    def trained(self, variant: str, seed: int) -> TrainedModel:
        """The nin-fashion `variant` trained with `seed`: from the cache folder, or trained now."""
        if (variant, seed) in self._trained:
            return self._trained[(variant, seed)]
        folder, result = self.ensure_trained(variant, seed)
        seconds = None if result is None else result.seconds
        if result is not None:
            model, config = _final_model(result), result.config
        else:
            model, config = self._load_run(folder)
            if (variant, seed) in self._fresh:  # trained in this run, by a worker process
                seconds = self._fresh[(variant, seed)]
            else:
                self.notes.append(f"{variant}-seed{seed}: loaded from {folder}")
        model = self._on_device(model)
        train_scores, test_scores = load_scores(folder) or self._scores(model, config)
        trained = TrainedModel(
            variant=VARIANTS[variant],
            seed=seed,
            model=model,
            config=config,
            parameters=sum(p.numel() for p in model.parameters()),
            train=train_scores,
            test=test_scores,
            train_seconds=seconds,
            run_dir=folder,
        )
        chance = 1 / len(self._run_data(config).classes)
        if test_scores.accuracy < 1.5 * chance:
            # kept (dropping it would pick the seeds that suit the claim), but said on the page
            self.notes.append(
                f"{variant}-seed{seed} did not learn: test accuracy {100 * test_scores.accuracy:.1f}% "
                f"(chance {100 * chance:.0f}%)"
            )
        self._trained[(variant, seed)] = trained
        return trained

    def runs(self, variant: str) -> list[TrainedModel]:
        """`variant` trained once per configured seed."""
        return [self.trained(variant, seed) for seed in self.config.seeds]

    def cpu_model(self, variant: str, seed: int) -> nn.Module:
        """The trained model on the CPU (for the inspect tools, which run there)."""
        model = self.trained(variant, seed).model
        return model if self.device.type == "cpu" else copy.deepcopy(model).to("cpu")


def _final_model(result: TrainResult) -> nn.Module:
    if result.model is None:
        raise OneByOneError("training returned no model")  # train() always returns one
    return result.model


def train_one(config: ReportConfig, variant: str, seed: int) -> float | None:
    """Train `variant` with `seed` into the cache in a worker process (report.parallel); its seconds,
    or None when the cache already held it."""
    _, result = ReportContext(config).ensure_trained(variant, seed)
    return None if result is None else result.seconds
