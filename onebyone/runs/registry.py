"""Run-folder formats, registered as models are, and `open_run` that picks the right one.

A run folder is data, never code. Each format is identified by its marker file (a training run's
config.json, a compressed run's factorized.json, a converted model's fc2conv.json). The model a folder
records is rebuilt from a zoo name and plain options only; a folder that names user code
(`file.py:factory`) opens only when the user names that code (`code=`, the CLI's `--model`) or trusts
the folder (`trust_code=True`, the CLI's `--trust-code`), as the ecosystem's `trust_remote_code` does.
The registry imports no format: the package `onebyone.runs`, imported before this module, imports each.
What a command opens (a model spec or a folder) is routed in `runs.opening`, above the formats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.loading import (
    is_user_code,
    load_model,
    missing_code_file,
)
from onebyone.models.options import check_options, is_plain_mapping
from onebyone.models.registry import get_model_entry, list_models
from onebyone.profiling.probe import check_shape
from onebyone.records import Spec, check, check_version, read_json, same_json
from onebyone.runs.run import Run
from onebyone.train.config import TrainConfig

# The margin cut off around the centre crop of a photo for published ImageNet weights (256 → 224).
IMAGENET_CROP_PADDING = 32


def read_record(path: Path, what: str, schema: Spec, version: int) -> tuple[dict, list[int]]:
    """(record, input shape) of a format's JSON record (factorized.json, fc2conv.json, caffe.json),
    checked against the format's `schema` (onebyone.runs.schema) and schema `version`; anything else
    is one line naming the file and the field."""
    where = f"{str(path)!r}: unreadable {what} description"
    record = check_version(read_json(path, f"{what} description"), version, where)
    check(record, schema, where)
    shape = list(record["input_shape"])
    try:
        check_shape(shape)
    except OneByOneError as exc:
        raise OneByOneError(f"{where} ({exc})") from None
    return record, shape


def recorded_config(record: dict, path: Path) -> TrainConfig | None:
    """The training configuration a record keeps ("train_config"; None when it has none), checked as
    config.json is (TrainConfig.check_values) and with its normalisation known."""
    if record.get("train_config") is None:
        return None
    try:
        config = TrainConfig.from_dict(record["train_config"])
    except OneByOneError as exc:
        raise OneByOneError(f"{str(path)!r}: {exc}") from None
    model = record.get("base", record.get("source"))
    if isinstance(model, dict) and "model" in model:  # the weights' model is the trained one
        for name in ("model", "model_overrides"):
            if not same_json(getattr(config, name), model.get(name, {})):
                raise OneByOneError(
                    f"{str(path)!r}: train_config.{name} {getattr(config, name)!r:.60} is not the recorded "
                    f"model's ({model.get(name, {})!r:.60}): the training configuration is another model's"
                )
    return check_normalised(config, path)


def check_normalised(config: TrainConfig, path: Path) -> TrainConfig:
    """A trained run's config says how its inputs were standardised (training measures mean and std
    before writing it); without them every input would be fed unstandardised, a wrong answer."""
    if config.mean is None or config.std is None:
        raise OneByOneError(
            f"{str(path)!r}: mean and std are null: the input normalisation of the weights is unknown"
        )
    return config


@dataclass(frozen=True)
class Consent:
    """What the user allowed: the user code they named for the model, or trust in the folder's own."""

    code: str | None = None
    trust_code: bool = False

    def builder(self, spec: object, where: str) -> Callable[[], nn.Module]:
        """How to build the base model a folder records; refuses user code the user did not allow."""
        if isinstance(spec, dict) and isinstance(spec.get("caffe"), dict):
            return caffe_builder(spec["caffe"], where)
        if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
            raise OneByOneError(f"{where}: damaged model record {spec!r:.80}")
        name, options = spec["model"], spec.get("model_overrides") or {}
        if not is_plain_mapping(options):
            raise OneByOneError(f"{where}: model options must be plain values, got {options!r:.80}")
        if is_user_code(name):
            if self.code is not None:
                name = self.code
            elif missing_code_file(name):
                factory = name.rpartition(":")[2]
                raise OneByOneError(
                    f"{where} was made from user code {name!r}, and {missing_code_file(name)!r} is not "
                    f"there any more; if the code moved, name its new place with --model "
                    f"NEW/PATH/file.py:{factory} (the folder is left as it is)"
                )
            elif not self.trust_code:
                raise OneByOneError(
                    f"{where} was made from user code {name!r}; opening it would run that code. If you "
                    f"trust it, name it with --model {name} (or pass --trust-code)"
                )
        else:
            if self.code is not None:
                raise OneByOneError(
                    f"{where} was made from zoo model {name!r}, not from user code; drop --model {self.code}"
                )
            if self.trust_code:  # a flag that allows nothing here is refused, not ignored
                raise OneByOneError(
                    f"{where} was made from zoo model {name!r}, which runs no user code; drop --trust-code"
                )
            try:
                check_options(name, get_model_entry(name).builder, options)  # unknown names raise too
            except OneByOneError as exc:  # the folder's record is at fault: say which folder
                raise OneByOneError(f"{where}: the recorded model: {exc}") from None
        return lambda: load_model(name, dict(options))


@dataclass(frozen=True)
class RunFormat:
    """A kind of run folder: the file that marks it, and how to open it."""

    name: str
    marker: str
    description: str
    open: Callable[[Path, Consent], Run]


_FORMATS: dict[str, RunFormat] = {}


def register_run_format(name: str, *, marker: str, description: str):
    """Decorator that adds `open(path, consent) -> Run` to the formats `open_run` chooses from."""

    def add(open_folder: Callable[[Path, Consent], Run]) -> Callable[[Path, Consent], Run]:
        if name in _FORMATS:
            raise RuntimeError(f"run format {name!r} registered twice")
        _FORMATS[name] = RunFormat(name, marker, description, open_folder)
        return open_folder

    return add


def list_run_formats() -> list[RunFormat]:
    return list(_FORMATS.values())


def run_format(path: str | Path) -> RunFormat | None:
    """The format of the folder at `path`, or None if it is not a run folder."""
    folder = Path(path)
    for entry in list_run_formats():
        if (folder / entry.marker).is_file():
            return entry
    return None


def open_run(path: str | Path, *, code: str | None = None, trust_code: bool = False) -> Run:
    """Open a run folder of any registered format (see the module docstring for `code`/`trust_code`)."""
    folder = Path(path)
    if not folder.is_dir():
        text = str(path)
        if not folder.exists() and (is_user_code(text) or text in list_models()):
            raise OneByOneError(
                f"{text!r} is a model, not a run folder (a folder written by "
                "`onebyone train --out`, `compress` or `convert`)"
            )
        raise OneByOneError(f"run folder {str(folder)!r} not found")
    entry = run_format(folder)
    if entry is None:
        expected = ", ".join(f"{f.marker} ({f.description})" for f in list_run_formats())
        raise OneByOneError(f"{str(folder)!r} is not a run folder: it has none of {expected}")
    return entry.open(folder, Consent(code, trust_code))


def caffe_builder(record: dict, where: str) -> Callable[[], nn.Module]:
    """How to build a Caffe net a folder records as data: its prototxt text and input size."""
    from onebyone.caffe import build, parse_prototxt

    text, shape = record.get("prototxt_text"), record.get("input_shape")
    if not isinstance(text, str) or not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
        raise OneByOneError(f"{where}: damaged Caffe model record (prototxt_text and input_shape)")
    definition = parse_prototxt(text, f"{where} (recorded prototxt)")
    return lambda: build(definition, tuple(shape))
