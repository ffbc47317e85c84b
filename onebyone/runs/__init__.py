"""Runs: a model with what comes with it, opened from any run folder through one loader.

`open_run(path)` reads a run folder of any registered format — a training run (`onebyone train`), a
compressed run (`onebyone compress`), a converted model (`onebyone convert fc2conv`) — and returns a
`Run`: its model, config, input size, normalisation, class names and data splits. A folder is data,
never code: see `onebyone.runs.registry` for models made from user code. `open_run_or_model(text)` is
what commands taking RUN_OR_MODEL use: a folder, or a zoo/user model spec.
"""

from onebyone.runs import caffe, compressed, converted, training  # noqa: F401 - each registers its format
from onebyone.runs.caffe import open_prototxt, save_caffe_run
from onebyone.runs.compressed import save_compressed
from onebyone.runs.converted import save_converted
from onebyone.runs.opening import open_model, open_run_or_model
from onebyone.runs.registry import (
    Consent,
    RunFormat,
    list_run_formats,
    open_run,
    register_run_format,
    run_format,
)
from onebyone.runs.run import Run

__all__ = [
    "Consent",
    "Run",
    "RunFormat",
    "list_run_formats",
    "open_model",
    "open_prototxt",
    "open_run",
    "open_run_or_model",
    "register_run_format",
    "run_format",
    "save_caffe_run",
    "save_compressed",
    "save_converted",
]
