"""Caffe nets as runs: a .prototxt given where a model goes, and the folder `onebyone convert caffe` writes.

A prototxt is data: opening it builds the net it defines (`onebyone.caffe`), with no code run. The
folder holds caffe.json (the input shape, where the net came from), net.prototxt (the definition, copied
in) and model.safetensors (the weights, from a .caffemodel or as initialised); opening it builds the
copied prototxt again at the recorded shape and loads the weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from torch import nn

from onebyone.caffe import CaffeNet, NetDefinition, build, read_prototxt
from onebyone.caffe.layers import Softmax
from onebyone.data import class_names
from onebyone.errors import OneByOneError
from onebyone.files import atomic_write, atomic_write_text, check_output_folder
from onebyone.records import check, json_text
from onebyone.runs.registry import Consent, read_record, register_run_format
from onebyone.runs.run import Run
from onebyone.runs.schema import CAFFE, CHANNEL_ORDERS
from onebyone.runs.weights import load_state
from onebyone.train.checkpoint import MODEL_FILE

CAFFE_FILE = "caffe.json"
PROTOTXT_FILE = "net.prototxt"
SCHEMA_VERSION = 1


def open_prototxt(path: str | Path, input_shape: tuple[int, ...] | None = None) -> Run:
    """The net a .prototxt defines as a bare model Run (initial weights), built for `input_shape`
    (C, H, W; default: the size the file declares)."""
    definition = read_prototxt(path)
    model = build(definition, input_shape)
    spec = caffe_spec(definition, model, str(path))
    run = _run(definition, model, name=str(path), kind="model", spec=spec)
    run.bgr = True  # Caffe's convention; `convert caffe --channel-order rgb` records otherwise
    return run


def save_caffe_run(
    out_dir: str | Path,
    prototxt: str | Path,
    model: CaffeNet,
    source: dict,
    *,
    classes: str | list[str] | None = None,
    mean: list[float] | None = None,
    scale: float | None = None,
    channel_order: str = "bgr",
) -> Path:
    """Write caffe.json, net.prototxt (a copy of `prototxt`) and model.safetensors to `out_dir` (new, empty).

    `classes` names the outputs (a class list such as "imagenet", or the names); `mean` (per channel, in
    0–255 pixel units) and `scale` are the input transform the net was trained with, as Caffe's
    transform_param gives them: input = (pixel − mean) · scale; `channel_order` is the order of the
    colour channels it takes ("bgr", Caffe's, or "rgb").
    """
    if channel_order not in CHANNEL_ORDERS:
        expected = ", ".join(CHANNEL_ORDERS)
        raise OneByOneError(f"unknown channel order {channel_order!r}; expected one of {expected}")
    from safetensors.torch import save_file

    out = check_output_folder(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write(out / MODEL_FILE, lambda path: save_file(state, str(path)))
    atomic_write(out / PROTOTXT_FILE, lambda path: shutil.copyfile(prototxt, path))
    record = {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "input_shape": list(model.input_shape[1:]),
        "classes": classes,
        "mean": mean,
        "scale": scale,
        "channel_order": channel_order,
    }
    check(record, CAFFE, f"{CAFFE_FILE} to write")
    atomic_write_text(out / CAFFE_FILE, json_text(record) + "\n")
    return out


@register_run_format("caffe", marker=CAFFE_FILE, description="an imported Caffe net")
def open_caffe_run(path: Path, consent: Consent) -> Run:
    record, shape = read_record(path / CAFFE_FILE, "caffe", CAFFE, SCHEMA_VERSION)
    if consent.code is not None:
        raise OneByOneError(
            f"{str(path)} was imported from a Caffe prototxt, not from user code; drop --model {consent.code}"
        )
    if consent.trust_code:
        raise OneByOneError(
            f"{str(path)} was imported from a Caffe prototxt, which runs no code; drop --trust-code"
        )
    for needed in (PROTOTXT_FILE, MODEL_FILE):
        if not (path / needed).is_file():
            raise OneByOneError(f"{str(path)!r} has no {needed}")
    definition = read_prototxt(path / PROTOTXT_FILE)
    model = build(definition, tuple(shape[-3:]))

    def load() -> nn.Module:
        return load_state(model, path / MODEL_FILE, path, "imported Caffe net")

    order = record.get("channel_order", "bgr")
    run = _run(
        definition,
        model,
        name=str(path),
        kind="caffe",
        spec=caffe_spec(definition, model, str(path)),
        mean=record.get("mean"),
        scale=record.get("scale"),
    )
    run.bgr = order == "bgr"
    run.build, run.path, run.record = load, path, record
    classes = record.get("classes")
    try:
        run.known_classes = (
            class_names(classes)
            if isinstance(classes, str)
            else tuple(str(c) for c in classes)
            if classes is not None
            else None
        )
    except (TypeError, OneByOneError) as exc:
        raise OneByOneError(f"{str(path)!r}: unreadable caffe description (classes: {exc})") from None
    output = model.blob_shapes[model.output_name]
    outputs = output[1] if len(output) > 1 else output[0]
    if run.known_classes is not None and len(run.known_classes) != outputs:
        raise OneByOneError(
            f"{str(path / CAFFE_FILE)!r}: unreadable caffe description (classes: {len(run.known_classes)} "
            f"names; the net gives {outputs} outputs)"
        )
    return run


def caffe_spec(definition: NetDefinition, model: CaffeNet, source: str) -> dict:
    """The Run's spec: the definition itself (text) and its input size, so that a folder made from this
    run (compress, convert fc2conv) rebuilds the net from data (`runs.registry.caffe_builder`)."""
    return {
        "caffe": {
            "prototxt_text": definition.text,
            "input_shape": list(model.input_shape[1:]),
            "source": source,
        }
    }


def _run(
    definition: NetDefinition,
    model: CaffeNet,
    *,
    name: str,
    kind: str,
    spec: dict,
    mean: list[float] | None = None,
    scale: float | None = None,
) -> Run:
    declared = definition.inputs[0]
    mean = mean if mean is not None else declared.mean
    scale = scale if scale is not None else declared.scale
    channels = model.input_shape[1]
    # Caffe's transform, (pixel in 0–255 − mean) · scale; without one a Caffe net takes raw 0–255 pixels
    values = tuple(mean or (0.0,))
    if len(values) not in (1, channels) or not scale or scale < 0:
        raise OneByOneError(
            f"{name}: input mean {list(values)} and scale {scale} do not fit {channels} channels"
        )
    run_mean = tuple(v / 255 for v in (values if len(values) == channels else values * channels))
    run_std = 1 / (255 * scale)
    last = model.get_submodule(model.steps[-1][0])
    return Run(
        name=name,
        kind=kind,
        spec=spec,
        build=lambda: model,
        input_size=tuple(model.input_shape[1:]),
        mean=run_mean,
        std=run_std,
        probabilities=isinstance(last, Softmax),
    )
