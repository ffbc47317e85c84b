"""Caffe nets as runs: a .prototxt given where a model goes, and the folder `onebyone convert caffe` writes.

A prototxt is data: opening it builds the net it defines (`onebyone.caffe`), with no code run. The
folder holds caffe.json (the input shape, where the net came from), net.prototxt (the definition, copied
in) and model.safetensors (the weights, from a .caffemodel or as initialised); opening it builds the
copied prototxt again at the recorded shape and loads the weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from torch import nn

from onebyone.caffe import CaffeNet, NetDefinition, build, read_prototxt
from onebyone.errors import OneByOneError
from onebyone.files import atomic_write, atomic_write_text, check_output_folder
from onebyone.runs.registry import Consent, read_record, register_run_format
from onebyone.runs.run import Run
from onebyone.runs.training import load_state
from onebyone.train.checkpoint import MODEL_FILE

CAFFE_FILE = "caffe.json"
PROTOTXT_FILE = "net.prototxt"
SCHEMA_VERSION = 1


def open_prototxt(path: str | Path, input_shape: tuple[int, ...] | None = None) -> Run:
    """The net a .prototxt defines as a bare model Run (initial weights), built for `input_shape`
    (C, H, W; default: the size the file declares)."""
    definition = read_prototxt(path)
    model = build(definition, input_shape)
    return _run(definition, model, name=str(path), kind="model", spec={"model": str(path),
                                                                        "model_overrides": {}})


def save_caffe_run(out_dir: str | Path, prototxt: str | Path, model: CaffeNet, source: dict) -> Path:
    """Write caffe.json, net.prototxt (a copy of `prototxt`) and model.safetensors to `out_dir` (new or empty)."""
    from safetensors.torch import save_file

    out = check_output_folder(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write(out / MODEL_FILE, lambda path: save_file(state, str(path)))
    atomic_write(out / PROTOTXT_FILE, lambda path: shutil.copyfile(prototxt, path))
    record = {"schema_version": SCHEMA_VERSION, "source": source, "input_shape": list(model.input_shape[1:])}
    atomic_write_text(out / CAFFE_FILE, json.dumps(record, indent=2) + "\n")
    return out


def _source(record: dict) -> dict:
    source = record["source"]
    if not isinstance(source, dict):
        raise TypeError(f"source must be an object, got {source!r:.60}")
    return source


@register_run_format("caffe", marker=CAFFE_FILE, description="an imported Caffe net")
def open_caffe_run(path: Path, consent: Consent) -> Run:
    record, shape, source = read_record(path / CAFFE_FILE, "caffe", _source)
    if consent.code is not None:
        raise OneByOneError(f"{str(path)} was imported from a Caffe prototxt, not from user code; "
                            f"drop --model {consent.code}")
    for needed in (PROTOTXT_FILE, MODEL_FILE):
        if not (path / needed).is_file():
            raise OneByOneError(f"{str(path)!r} has no {needed}")
    definition = read_prototxt(path / PROTOTXT_FILE)
    model = build(definition, tuple(shape[-3:]))

    def load() -> nn.Module:
        return load_state(model, path / MODEL_FILE, path, "imported Caffe net")

    run = _run(definition, model, name=str(path), kind="caffe", spec={"caffe": dict(source)})
    run.build, run.path, run.record = load, path, record
    return run


def _run(definition: NetDefinition, model: CaffeNet, *, name: str, kind: str, spec: dict) -> Run:
    declared = definition.inputs[0]
    mean = std = None
    if declared.mean is not None:  # a train_val file's transform: (pixel in 0–255 − mean) · scale
        channels = model.input_shape[1]
        values = declared.mean if len(declared.mean) == channels else declared.mean[:1] * channels
        mean = tuple(v / 255 for v in values)
        std = 1 / (255 * declared.scale) if declared.scale else None
        mean = mean if std is not None else None
    return Run(name=name, kind=kind, spec=spec, build=lambda: model, input_size=tuple(model.input_shape[1:]),
               mean=mean, std=std)
