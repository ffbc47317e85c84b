"""ONNX export with a round-trip check: the file is run with onnxruntime and compared to PyTorch.

The model is run once first (`onebyone.profiling.probe`): a model that fails on the input or returns
anything but one tensor is refused in one line before anything is written. The exporter traces the
forward, so a branch on tensor values (`if x.sum() > 0:`) keeps the side the example input took;
the probe finds such places in eager mode, where shapes are plain ints and every tensor-to-Python
conversion depends on the data, and the result lists them as warnings. (The tracer's own
TracerWarning cannot tell the two apart: it also fires on arithmetic over traced shapes, e.g. the
TensorFlow-SAME padding of EfficientNet, which the file's fixed height and width make exact.)
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from onebyone.deploy.fold import fold_batchnorm
from onebyone.deploy.reparam import ReparamResult, reparameterize
from onebyone.errors import OneByOneError
from onebyone.files import atomic_write, check_output_file, writes_through
from onebyone.profiling.probe import probe_forward

MIN_OPSET = 7  # the oldest opset torch's TorchScript exporter writes


@dataclass
class ExportResult:
    """Where the model went and how closely onnxruntime reproduces PyTorch's output."""

    path: str
    opset: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    max_abs_diff: float | None  # None when onnxruntime is not installed
    file_bytes: int
    warnings: list[str] = field(default_factory=list)  # e.g. a branch on tensor values, frozen
    reparam: ReparamResult | None = None  # the merges made before export; None with reparam=False
    reparam_max_abs_diff: float | None = None  # the exported model against the one given, in PyTorch


def check_opset(opset: int) -> None:
    """Refuse an ONNX opset the exporter does not write."""
    if not MIN_OPSET <= opset <= _max_opset():
        raise OneByOneError(f"opset must be from {MIN_OPSET} to {_max_opset()}, got {opset}")


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_shape: tuple[int, ...],
    *,
    opset: int = 17,
    check: bool = True,
    seed: int = 0,
    reparam: bool = True,
) -> ExportResult:
    """Export `model` (eval mode) to ONNX with a dynamic batch axis, then check it with onnxruntime.

    With `reparam` (the default) what goes out is the deployed form: batch norm folded and parallel
    or chained linear layers merged into single convs (`onebyone.deploy.reparam`); the result says
    what was merged and how far the deployed model is from the one given, on the example input.

    Raises OneByOneError, before anything is written, for an output path that cannot be written, an
    opset the exporter does not know, a model that does not run on the input or returns anything but
    one tensor, and (naming the failing op) a model the exporter cannot handle.
    """
    path = check_output_file(path)
    check_opset(opset)
    probe = probe_forward(model, input_shape, seed=seed)
    model = model.eval()
    example = torch.randn(*probe.input_shape, generator=torch.Generator().manual_seed(seed))
    report, reparam_diff = None, None
    if reparam:
        given = model
        model, report = reparameterize(fold_batchnorm(given, example)[0])
        with torch.no_grad():
            reparam_diff = float((model(example) - given(example)).abs().max())
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), _exporter_output_discarded():
            warnings.simplefilter("ignore")  # the exporter's deprecation chatter
            torch.onnx.export(
                model,
                (example,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            )
    except Exception as exc:  # the exporter raises many types; all mean "this model cannot go out"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OneByOneError(f"cannot export to ONNX: {reason}") from exc
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))  # never a half-written .onnx
    with torch.no_grad():
        expected = model(example)
    # A regular file is checked as it lies on disk; a device written through (/dev/null) cannot be
    # read back, so the bytes sent to it are checked.
    written = buffer.getvalue() if writes_through(path) else str(path)
    diff = _onnxruntime_diff(written, example, expected) if check else None
    notes = []
    if probe.conversions:
        more = f" (and {len(probe.conversions) - 1} more)" if len(probe.conversions) > 1 else ""
        notes.append(
            f"{type(model).__name__}'s forward turns tensor values into Python values at "
            f"{probe.conversions[0]}{more} (data-dependent control flow): the ONNX file keeps what the "
            "example input gave there and may be wrong on other inputs"
        )
    return ExportResult(
        str(path),
        opset,
        tuple(input_shape),
        tuple(expected.shape),
        diff,
        len(buffer.getvalue()),
        notes,
        report,
        reparam_diff,
    )


def _max_opset() -> int:
    try:
        from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    except ImportError:  # a private module: if torch moves it, fall back to the newest we know
        return 20
    return int(ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)


@contextmanager
def _exporter_output_discarded() -> Iterator[None]:
    """When an op fails, the exporter's C++ side logs a dump of the whole graph (hundreds of lines) to
    C++'s buffered stdout, which reaches the terminal when the process ends; the error it raises says
    what failed. Here the log goes to C++'s unbuffered stderr, and file descriptor 2 to a scratch file."""
    set_stream = getattr(torch._C, "_jit_set_onnx_log_output_stream", None)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        if set_stream is not None:
            set_stream("stderr")
        try:
            yield
        finally:
            if set_stream is not None:
                set_stream("stdout")  # torch's default
            os.dup2(saved, 2)
            os.close(saved)


def _onnxruntime_diff(model: str | bytes, example: torch.Tensor, expected: torch.Tensor) -> float | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {"input": example.numpy()})
    return float((torch.from_numpy(actual) - expected).abs().max())
