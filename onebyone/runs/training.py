"""The training-run folder (written by `onebyone train --out`): config.json + model.safetensors, and
data.json for a run on an image folder (what the folder held; `onebyone.train.data_record`).

The model is rebuilt from the recorded zoo name and options and its weights loaded from safetensors,
so nothing is unpickled and no code runs (see `onebyone.runs.registry` for user-code models).
"""

from __future__ import annotations

from pathlib import Path

from onebyone.errors import OneByOneError
from onebyone.runs.registry import Consent, check_normalised, register_run_format
from onebyone.runs.run import Run
from onebyone.runs.weights import load_state
from onebyone.train.checkpoint import CONFIG_FILE, MODEL_FILE
from onebyone.train.config import read_config
from onebyone.train.data_record import read_data_record
from onebyone.train.run import data_input_size


@register_run_format("training", marker=CONFIG_FILE, description="a training run")
def open_training_run(path: Path, consent: Consent) -> Run:
    config = read_config(path / CONFIG_FILE)
    spec = {"model": config.model, "model_overrides": dict(config.model_overrides)}
    build_base = consent.builder(spec, str(path))
    check_normalised(config, path / CONFIG_FILE)
    data_record = read_data_record(path, config.model_overrides.get("num_classes"))
    if not (path / MODEL_FILE).is_file():
        raise OneByOneError(f"{str(path)!r} has no {MODEL_FILE}: the run has not finished (resume it)")
    return Run(
        name=str(path),
        kind="training",
        spec=spec,
        build=lambda: load_state(build_base(), path / MODEL_FILE, path),
        input_size=data_input_size(config),
        config=config,
        path=path,
        data_record=data_record,
    )
