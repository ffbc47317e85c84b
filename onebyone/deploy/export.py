"""ONNX export with a round-trip check: the file is run with onnxruntime and compared to PyTorch."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.files import atomic_write


@dataclass
class ExportResult:
    """Where the model went and how closely onnxruntime reproduces PyTorch's output."""

    path: str
    opset: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    max_abs_diff: float | None  # None when onnxruntime is not installed
    file_bytes: int


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_shape: tuple[int, ...],
    *,
    opset: int = 17,
    check: bool = True,
    seed: int = 0,
) -> ExportResult:
    """Export `model` (eval mode) to ONNX with a dynamic batch axis, then check it with onnxruntime.

    Raises OneByOneError naming the failing op when the exporter cannot handle the model.
    """
    model = model.eval()
    example = torch.randn(*input_shape, generator=torch.Generator().manual_seed(seed))
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise OneByOneError(f"output folder {str(path.parent)!r} does not exist")
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
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
    diff = _onnxruntime_diff(path, example, expected) if check else None
    return ExportResult(
        str(path), opset, tuple(input_shape), tuple(expected.shape), diff, path.stat().st_size
    )


def _onnxruntime_diff(path: Path, example: torch.Tensor, expected: torch.Tensor) -> float | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {"input": example.numpy()})
    return float((torch.from_numpy(actual) - expected).abs().max())
