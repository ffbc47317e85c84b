"""What `onebyone compress` compresses: a training run folder, or (untrained) a model spec.

A run brings its model, its input size, and through the training package a test-set evaluation
and a fine-tuning step; a bare model spec brings only the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.loading import load_model, model_input_size, parse_input_shape, parse_overrides


@dataclass
class Source:
    model: nn.Module
    input_shape: tuple[int, int, int]  # (C, H, W)
    base: dict  # how to rebuild the unfactorised model: {"run": ...} or {"model": ..., "overrides": ...}
    evaluate: Callable[[nn.Module], float] | None = None
    finetune: Callable[[nn.Module, int], nn.Module] | None = None
    note: str | None = None  # why accuracy cannot be measured
    config: object | None = None  # the run's TrainConfig, copied into the compressed run


def resolve_source(spec: str, *, overrides: list[str] | None = None, input_text: str | None = None) -> Source:
    path = Path(spec)
    if path.is_dir():
        return _run_source(path)
    if ":" not in spec and (("/" in spec) or path.suffix or spec.startswith(".")):
        raise OneByOneError(f"run folder {spec!r} not found")
    try:
        model = load_model(spec, parse_overrides(overrides))
    except OneByOneError as exc:
        if ":" in spec:
            raise
        raise OneByOneError(f"{spec!r} is neither a run folder nor a zoo model ({exc})") from exc
    if input_text:
        input_shape = parse_input_shape(input_text)[-3:]
    else:
        input_shape = model_input_size(spec, model)
        if input_shape is None:
            raise OneByOneError(f"{spec}: give the input size with --input CxHxW")
    return Source(
        model, tuple(input_shape), {"model": spec, "model_overrides": parse_overrides(overrides)},
        note="a bare model spec has no data set: accuracy not measured (compress a training run)",
    )


def _run_source(path: Path) -> Source:
    """A training run: its model and config via `onebyone.train.load_run`, its test set for accuracy."""
    try:
        from onebyone.train import accuracy, load_data, load_run
    except ImportError as exc:
        raise OneByOneError(f"{str(path)!r}: reading training runs needs onebyone.train ({exc})") from exc
    from onebyone.surgery.finetune import finetune
    from onebyone.surgery.runs import is_compressed_run

    if is_compressed_run(path):
        raise OneByOneError(
            f"{str(path)!r} is already a compressed run; "
            "compress the run it came from with a smaller --budget"
        )
    model, config = load_run(path)
    config.progress = False
    data = load_data(config)
    input_shape = tuple(data.test.input_shape)
    base = {"model": config.model, "model_overrides": dict(config.model_overrides), "run": str(path)}
    return Source(
        model, input_shape, base,
        evaluate=lambda m: accuracy(m, data.test, config),
        finetune=lambda m, epochs: finetune(m, data, config, epochs),
        config=config,
    )
