"""Compress a model: factorise it to a budget, measure latency and accuracy before and after, fine-tune.

The caller supplies how to evaluate and fine-tune (for a training run, its test set and recipe); this
module only orchestrates and records. Saving the result as a run folder is `onebyone.runs.compressed`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from onebyone.deploy.bench import check_batches
from onebyone.profiling.probe import probe_forward
from onebyone.surgery.factorize import FactorizeResult, factorize
from onebyone.timing import median_seconds
from onebyone.torch_typing import to_memory_format

SCHEMA_VERSION = 1


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
    report: FactorizeResult
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
        model = to_memory_format(copy.deepcopy(model).eval(), layout)
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
    probe = probe_forward(model, (1, *input_shape[-3:]), name=source)
    check_batches(probe, batches, repeats, source)  # before minutes of factorising
    model = model.eval()
    say("factorising")
    new_model, report = factorize(
        model,
        budget,
        target=target,
        input_shape=input_shape,
        hooi_iters=hooi_iters,
        channels_last=channels_last,
    )
    new_model.eval()
    result = CompressResult(
        source,
        None,
        torch.get_num_threads(),
        report,
        sum(p.numel() for p in model.parameters()),
        sum(p.numel() for p in new_model.parameters()),
        accuracy_note=accuracy_note,
        channels_last=channels_last,
        frozen=frozen,
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
