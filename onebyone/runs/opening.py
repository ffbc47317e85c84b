"""What commands open: a bare model spec (zoo name, user code, Caffe prototxt) or a run folder.

Above every run format (it routes a .prototxt to the Caffe format), so `registry` imports none of them.
"""

from __future__ import annotations

from pathlib import Path

from onebyone.data import class_names
from onebyone.errors import OneByOneError
from onebyone.models.loading import is_user_code, load_model, model_input_size, one_line, resolved_spec
from onebyone.models.registry import get_model_entry, list_models
from onebyone.runs.caffe import open_prototxt
from onebyone.runs.registry import IMAGENET_CROP_PADDING, open_run
from onebyone.runs.run import Run


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


def is_prototxt(text: str) -> bool:
    """Whether a model spec names a Caffe definition (a path ending in .prototxt)."""
    return text.lower().endswith(".prototxt")
