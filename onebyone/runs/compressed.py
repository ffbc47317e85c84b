"""The compressed-run folder (written by `onebyone compress`): factorized.json + model.safetensors.

factorized.json records how to build the unfactorised base model (a zoo name and options), the
factorised layout, the input shape, and the training configuration of the run it came from (its data,
normalisation and recipe) — enough to rebuild the model with plain layers and load its weights
without unpickling anything. compress.json beside them is the measurement, for people to read.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.files import atomic_write, atomic_write_text, check_output_folder
from onebyone.records import check, json_text
from onebyone.runs.registry import Consent, read_record, recorded_config, register_run_format
from onebyone.runs.run import Run
from onebyone.runs.schema import FACTORIZED
from onebyone.runs.weights import load_state
from onebyone.surgery.compress import CompressResult
from onebyone.surgery.factorize import factorized_structure, rebuild_structure
from onebyone.train.checkpoint import MODEL_FILE
from onebyone.train.data_record import carry_data_record, read_data_record

SCHEMA_VERSION = 1
STRUCTURE_FILE = "factorized.json"
REPORT_FILE = "compress.json"


def save_compressed(
    out_dir: str | Path,
    model: nn.Module,
    result: CompressResult,
    base: dict,
    train_config: dict | None = None,
    data_record: dict | None = None,
) -> Path:
    """Write model.safetensors, factorized.json (base + layout) and compress.json to `out_dir`, and
    data.json when the source run has one (`data_record`: its image folder, checked on every read).

    `base` says how to build the unfactorised model: {"model": "nin-fashion", "model_overrides": {...}}
    (and, for the record, the "run" it came from). `train_config` is the source run's training
    configuration, kept so the data and recipe of the compressed model are known.
    """
    from safetensors.torch import save_file

    out = check_output_folder(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.out_dir = str(out)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(out / MODEL_FILE, lambda path: save_file(state, str(path)))
    description = {
        "schema_version": SCHEMA_VERSION,
        "base": base,
        "input_shape": list(result.report.input_shape),
        "structure": factorized_structure(model, result.report),
        "train_config": train_config,
    }
    check(description, FACTORIZED, f"{STRUCTURE_FILE} to write")
    atomic_write_text(out / STRUCTURE_FILE, json_text(description) + "\n")
    atomic_write_text(out / REPORT_FILE, json_text(result.to_dict()) + "\n")
    carry_data_record(out, data_record)
    return out


def read_description(run: Path) -> dict:
    """factorized.json, checked against its schema (onebyone.runs.schema.FACTORIZED)."""
    return read_record(run / STRUCTURE_FILE, "compressed-run", FACTORIZED, SCHEMA_VERSION)[0]


@register_run_format("compressed", marker=STRUCTURE_FILE, description="a compressed run")
def open_compressed_run(path: Path, consent: Consent) -> Run:
    description = read_description(path)
    build_base = consent.builder(description["base"], str(path))
    if not (path / MODEL_FILE).is_file():
        raise OneByOneError(f"{str(path)!r} has no {MODEL_FILE}")
    config = recorded_config(description, path / STRUCTURE_FILE)
    data_record = read_data_record(path, config.model_overrides.get("num_classes") if config else None)

    def build() -> nn.Module:
        try:
            model = rebuild_structure(build_base(), description["structure"])
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise OneByOneError(
                f"{str(path / STRUCTURE_FILE)!r}: the recorded layout does not fit the model ({exc})"
            ) from exc
        return load_state(model, path / MODEL_FILE, path, what="factorised model")

    return Run(
        name=str(path),
        kind="compressed",
        spec=dict(description["base"]),
        build=build,
        input_size=tuple(description["input_shape"][-3:]),
        config=config,
        path=path,
        record=description,
        data_record=data_record,
    )
