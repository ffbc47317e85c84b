"""The converted-model folder (written by `onebyone convert fc2conv`): fc2conv.json + model.safetensors.

fc2conv.json records the source model (a zoo name and options, and the training configuration when it
came from a training run), the input size the conversion was made at, and what was converted. Opening
it converts the rebuilt source model again at that size and loads the saved weights.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.files import atomic_write, atomic_write_text, check_output_folder
from onebyone.records import check, json_text
from onebyone.runs.registry import Consent, read_record, recorded_config, register_run_format
from onebyone.runs.run import Run
from onebyone.runs.schema import FC2CONV
from onebyone.runs.weights import load_state
from onebyone.surgery.fc_to_conv import FcToConvResult, fc_to_conv
from onebyone.train.checkpoint import MODEL_FILE
from onebyone.train.data_record import carry_data_record, read_data_record

FC2CONV_FILE = "fc2conv.json"
SCHEMA_VERSION = 1


def save_converted(
    out_dir: str | Path,
    result: FcToConvResult,
    source: dict,
    train_config: dict | None = None,
    checks: dict | None = None,
    data_record: dict | None = None,
) -> Path:
    """Write model.safetensors (the converted weights) and fc2conv.json to `out_dir` (new or empty),
    and data.json when the source run has one (`data_record`: its image folder, checked on every read).

    `source` says how to rebuild the unconverted model: {"model": zoo name, "model_overrides": {...}}
    (and, for the record, the "run" it came from); `train_config` is that run's configuration.
    """
    from safetensors.torch import save_file

    out = check_output_folder(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in result.model.state_dict().items()}
    atomic_write(out / MODEL_FILE, lambda path: save_file(state, str(path)))
    description = {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "train_config": train_config,
        **result.to_dict(),
        **(checks or {}),
    }
    check(description, FC2CONV, f"{FC2CONV_FILE} to write")
    atomic_write_text(out / FC2CONV_FILE, json_text(description) + "\n")
    carry_data_record(out, data_record)
    return out


@register_run_format("converted", marker=FC2CONV_FILE, description="a converted model")
def open_converted_run(path: Path, consent: Consent) -> Run:
    description, shape = read_record(path / FC2CONV_FILE, "fc2conv", FC2CONV, SCHEMA_VERSION)
    source = description["source"]
    config = recorded_config(description, path / FC2CONV_FILE)
    data_record = read_data_record(path, config.model_overrides.get("num_classes") if config else None)
    build_source = consent.builder(source, str(path))
    if not (path / MODEL_FILE).is_file():
        raise OneByOneError(f"{str(path)!r} has no {MODEL_FILE}")

    def build() -> nn.Module:
        model = fc_to_conv(build_source().eval(), shape)
        return load_state(model, path / MODEL_FILE, path, "converted model")

    return Run(
        name=str(path),
        kind="converted",
        spec=dict(source),
        build=build,
        input_size=tuple(shape[-3:]),
        config=config,
        path=path,
        record=description,
        data_record=data_record,
    )
