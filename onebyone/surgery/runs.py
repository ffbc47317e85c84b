"""Compress a trained run: factorise, measure latency and accuracy, fine-tune, and save a new run.

The run side (loading a run, evaluating on its test set, fine-tuning) goes through the training
package; this module only orchestrates and records. A compressed run holds `model.safetensors`
and `factorized.json`: where the base model came from and the factorised layout, enough to
rebuild it with plain layers and load its weights without unpickling anything.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from onebyone.analysis.timing import median_seconds
from onebyone.errors import OneByOneError
from onebyone.files import atomic_write
from onebyone.surgery.factorize import FactorizeReport, factorize, factorized_structure, rebuild_structure

SCHEMA_VERSION = 1
STRUCTURE_FILE = "factorized.json"
REPORT_FILE = "compress.json"


@dataclass
class Latency:
    batch: int
    before_ms: float
    after_ms: float

    @property
    def speedup(self) -> float:
        return self.before_ms / self.after_ms


@dataclass
class CompressResult:
    source: str
    out_dir: str | None
    threads: int
    report: FactorizeReport
    params_before: int  # whole model
    params_after: int
    latency: list[Latency] = field(default_factory=list)
    accuracy_before: float | None = None  # test accuracy, fraction in [0, 1]
    accuracy_after: float | None = None
    accuracy_finetuned: float | None = None
    finetune_epochs: int = 0
    accuracy_note: str | None = None  # why accuracy is missing
    channels_last: bool = False  # the layout latency was measured in
    frozen: bool = False  # latency measured on frozen TorchScript copies (BN folded, conv + ReLU fused)

    @property
    def predicted_speedup(self) -> float:
        """Original MACs over factorised MACs of the factorisable layers."""
        after = self.report.total("macs_after")
        return self.report.total("macs_before") / after if after else float("inf")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["report"] = self.report.to_dict()
        data["schema_version"] = SCHEMA_VERSION
        data["predicted_speedup"] = self.predicted_speedup
        for row, raw in zip(self.latency, data["latency"], strict=True):
            raw["speedup"] = row.speedup
        return data


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    batch: int,
    repeats: int = 5,
    channels_last: bool = False,
    frozen: bool = False,
) -> float:
    """Median milliseconds of one eval-mode forward pass at `batch` (fp32, this machine's threads).

    `frozen`: time a frozen TorchScript copy (`onebyone.deploy.freeze_for_cpu`) instead of eager.
    """
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, *input_shape[-3:]).contiguous(memory_format=layout)
    if frozen:
        from onebyone.deploy.freeze import freeze_for_cpu

        model = freeze_for_cpu(model, tuple(x.shape), channels_last=channels_last)
    else:
        model = copy.deepcopy(model).eval().to(memory_format=layout)
    with torch.inference_mode():
        return median_seconds(lambda: model(x), warmup=2, repeats=repeats) * 1e3


def compress(
    model: nn.Module,
    input_shape: tuple[int, ...],
    budget: float,
    *,
    target: str = "macs",
    source: str = "model",
    batches: tuple[int, ...] = (1, 64),
    repeats: int = 5,
    hooi_iters: int = 0,
    channels_last: bool = False,
    frozen: bool = False,
    evaluate: Callable[[nn.Module], float] | None = None,
    finetune: Callable[[nn.Module, int], nn.Module] | None = None,
    finetune_epochs: int = 0,
    accuracy_note: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[nn.Module, CompressResult]:
    """Factorise `model` to `budget` and measure it before and after.

    `evaluate(model) -> accuracy` and `finetune(model, epochs) -> model` come from the training
    side; without them accuracy is left out and `accuracy_note` says why.
    """
    say = progress or (lambda message: None)
    model = model.eval()
    say("factorising")
    new_model, report = factorize(model, budget, target=target, input_shape=input_shape,
                                  hooi_iters=hooi_iters, channels_last=channels_last)
    new_model.eval()
    result = CompressResult(
        source, None, torch.get_num_threads(), report,
        sum(p.numel() for p in model.parameters()), sum(p.numel() for p in new_model.parameters()),
        accuracy_note=accuracy_note, channels_last=channels_last, frozen=frozen,
    )
    for batch in batches:
        say(f"latency at batch {batch}")
        before = measure_latency(model, input_shape, batch, repeats, channels_last, frozen)
        after = measure_latency(new_model, input_shape, batch, repeats, channels_last, frozen)
        result.latency.append(Latency(batch, before, after))
    if evaluate is not None:
        say("accuracy before")
        result.accuracy_before = evaluate(model)
        say("accuracy after")
        result.accuracy_after = evaluate(new_model)
        if finetune is not None and finetune_epochs > 0:
            say(f"fine-tuning {finetune_epochs} epoch(s)")
            new_model = finetune(new_model, finetune_epochs).eval()
            result.finetune_epochs = finetune_epochs
            result.accuracy_finetuned = evaluate(new_model)
    return new_model, result


def save_compressed(
    out_dir: str | Path,
    model: nn.Module,
    result: CompressResult,
    base: dict,
    train_config: dict | None = None,
) -> Path:
    """Write model.safetensors, factorized.json (base + layout) and compress.json to `out_dir`.

    `base` says how to build the unfactorised model: {"model": "nin-fashion", "model_overrides": {...}}
    (and, for the record, the "run" it came from). `train_config` is the source run's training
    configuration, kept so the data and recipe of the compressed model are known.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise OneByOneError(f"output folder {str(out)!r} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    result.out_dir = str(out)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(out / "model.safetensors", lambda path: save_file(state, str(path)))
    description = {
        "schema_version": SCHEMA_VERSION,
        "base": base,
        "input_shape": list(result.report.input_shape),
        "structure": factorized_structure(model, result.report),
        "train_config": train_config,
    }
    atomic_write(out / STRUCTURE_FILE, lambda path: path.write_text(json.dumps(description, indent=2)))
    atomic_write(out / REPORT_FILE, lambda path: path.write_text(json.dumps(result.to_dict(), indent=2)))
    return out


def load_compressed(run_dir: str | Path, build_base: Callable[[dict], nn.Module] | None = None) -> nn.Module:
    """Rebuild a compressed run: the unfactorised model (`build_base(base)`, by default from the zoo
    spec and overrides in factorized.json), then the factorised layout, then the weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from onebyone.models.loading import load_model

    if build_base is None:
        build_base = lambda base: load_model(base["model"], dict(base.get("model_overrides") or {}))  # noqa: E731

    run = Path(run_dir)
    description = _read_description(run)
    model = rebuild_structure(build_base(description["base"]), description["structure"])
    try:
        state = load_file(str(run / "model.safetensors"))
    except (SafetensorError, OSError) as exc:
        weights = str(run / "model.safetensors")
        raise OneByOneError(f"{weights!r}: unreadable safetensors file ({exc})") from exc
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise OneByOneError(f"{str(run)!r}: weights do not fit the factorised model ({exc})") from exc
    return model.eval()


def is_compressed_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / STRUCTURE_FILE).is_file()


def load_compressed_run(run_dir: str | Path):
    """A compressed run as `onebyone.train.load_run` returns a training run: `(model, TrainConfig)`,
    the config being the source run's (its data, normalisation and recipe), so eval, bench, export
    and inspect take a compressed run like any other."""
    config = compressed_run_config(run_dir)
    return load_compressed(run_dir), config


def compressed_run_config(run_dir: str | Path):
    """The TrainConfig of the run a compressed run came from (read from factorized.json, no weights)."""
    from onebyone.train.config import TrainConfig

    run = Path(run_dir)
    train_config = _read_description(run).get("train_config")
    if not train_config:
        raise OneByOneError(
            f"{str(run)!r} was compressed from a bare model spec, not a training run: it has no data set "
            "(use onebyone.surgery.load_compressed for the model)"
        )
    return TrainConfig.from_dict(train_config)


def _read_description(run: Path) -> dict:
    if not run.is_dir():
        raise OneByOneError(f"run folder {str(run)!r} not found")
    if not (run / STRUCTURE_FILE).is_file():
        raise OneByOneError(f"{str(run)!r} is not a compressed run (no {STRUCTURE_FILE})")
    try:
        description = json.loads((run / STRUCTURE_FILE).read_text())
        description["base"]["model"], description["structure"]  # noqa: B018 - required keys
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        path = str(run / STRUCTURE_FILE)
        raise OneByOneError(f"{path!r}: unreadable compressed-run description ({exc})") from exc
    if not (run / "model.safetensors").is_file():
        raise OneByOneError(f"{str(run)!r} has no model.safetensors")
    return description
