"""Run-folder formats, registered as models are, and `open_run` that picks the right one.

A run folder is data, never code. Each format is identified by its marker file (a training run's
config.json, a compressed run's factorized.json, a converted model's fc2conv.json). The model a folder
records is rebuilt from a zoo name and plain options only; a folder that names user code
(`file.py:factory`) opens only when the user names that code (`code=`, the CLI's `--model`) or trusts
the folder (`trust_code=True`, the CLI's `--trust-code`), as the ecosystem's `trust_remote_code` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from onebyone.analysis.probe import check_shape
from onebyone.data import class_names
from onebyone.errors import OneByOneError
from onebyone.models.loading import (
    is_user_code,
    load_model,
    missing_code_file,
    model_input_size,
    one_line,
    resolved_spec,
)
from onebyone.models.options import check_options, is_plain_mapping
from onebyone.models.registry import get_model_entry, list_models
from onebyone.runs.run import Run

# The margin cut off around the centre crop of a photo for published ImageNet weights (256 → 224).
IMAGENET_CROP_PADDING = 32


def read_record(path: Path, what: str, read: Callable[[dict], object]) -> tuple[dict, list[int], object]:
    """(record, input shape, read(record)) of a format's JSON record (factorized.json, fc2conv.json):
    `read` takes the format's own fields; anything unreadable is one line naming the file."""
    unreadable = f"{str(path)!r}: unreadable {what} description"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        fields = read(record)
        shape = [int(d) for d in record["input_shape"]]
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise OneByOneError(f"{unreadable} ({exc})") from exc
    if len(shape) < 3:
        raise OneByOneError(f"{unreadable} (input shape {shape})")
    try:
        check_shape(shape)
    except OneByOneError as exc:
        raise OneByOneError(f"{unreadable} ({exc})") from None
    return record, shape, fields


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
            check_options(name, get_model_entry(name).builder, options)  # unknown names raise here too
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
    _load_formats()
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


def open_model(
    spec: str, overrides: dict | None = None, *, input_shape: tuple[int, ...] | None = None
) -> Run:
    """A bare zoo or user model as a Run: no weights of its own (random init), its design input size.

    A Caffe .prototxt is a model too; `input_shape` (C, H, W) is the size it is built for (Caffe sizes
    an InnerProduct by its input), where other models take any size they run on.
    """
    overrides = dict(overrides or {})
    if is_prototxt(spec):
        if overrides:
            raise OneByOneError(f"{spec}: a Caffe prototxt has no --set options; edit the file")
        return open_prototxt(spec, input_shape)
    if not is_user_code(spec) and spec not in list_models() and Path(spec).is_dir():
        raise OneByOneError(f"{spec!r} is a run folder; give a zoo model name or path/to/file.py:factory")
    try:
        model = load_model(spec, overrides)
    except OneByOneError:
        raise
    except Exception as exc:  # the builder failed on these options: one line, not a traceback
        raise OneByOneError(f"building {spec} failed: {one_line(exc)}") from exc
    entry = None if is_user_code(spec) else get_model_entry(spec)
    published = entry is not None and entry.mean is not None and overrides.get("pretrained") is True
    return Run(
        name=spec,
        kind="model",
        spec={"model": resolved_spec(spec), "model_overrides": overrides},  # folders record it: absolute
        build=lambda: model,
        input_size=model_input_size(spec, model),
        mean=entry.mean if published else None,
        std=entry.std if published else None,
        known_classes=class_names(entry.classes) if published and entry.classes else None,
        crop_padding=IMAGENET_CROP_PADDING if published else 0,
    )


def open_run_or_model(
    text: str,
    *,
    overrides: dict | None = None,
    code: str | None = None,
    trust_code: bool = False,
    input_shape: tuple[int, ...] | None = None,
) -> Run:
    """RUN_OR_MODEL as the commands take it: an existing folder is a run, anything else a model spec
    (`input_shape` sizes a Caffe prototxt; see `open_model`)."""
    path = Path(text)
    if path.is_dir():
        if overrides:
            raise OneByOneError("--set changes a model's definition; a training run's model is fixed")
        return open_run(path, code=code, trust_code=trust_code)
    if is_prototxt(text) and (code is not None or trust_code):
        raise OneByOneError("--model and --trust-code apply to run folders; a prototxt runs no code")
    if is_prototxt(text):
        return open_model(text, overrides, input_shape=input_shape)
    if not is_user_code(text) and ("/" in text or path.suffix or text.startswith(".")):
        raise OneByOneError(f"run folder {text!r} not found")
    if code is not None or trust_code:
        raise OneByOneError("--model and --trust-code apply to run folders; give the model spec itself")
    return open_model(text, overrides)


def caffe_builder(record: dict, where: str) -> Callable[[], nn.Module]:
    """How to build a Caffe net a folder records as data: its prototxt text and input size."""
    from onebyone.caffe import build, parse_prototxt

    text, shape = record.get("prototxt_text"), record.get("input_shape")
    if not isinstance(text, str) or not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
        raise OneByOneError(f"{where}: damaged Caffe model record (prototxt_text and input_shape)")
    definition = parse_prototxt(text, f"{where} (recorded prototxt)")
    return lambda: build(definition, tuple(shape))


def is_prototxt(text: str) -> bool:
    """Whether a model spec names a Caffe definition (a path ending in .prototxt)."""
    return text.lower().endswith(".prototxt")


def open_prototxt(path: str, input_shape: tuple[int, ...] | None) -> Run:
    from onebyone.runs.caffe import open_prototxt as open_caffe  # the caffe format imports this module

    return open_caffe(path, input_shape)


def _load_formats() -> None:
    # Importing the package registers every format module.
    import onebyone.runs  # noqa: F401
