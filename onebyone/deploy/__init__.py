"""Inference deployment: batch-norm folding, layout and precision, benchmarking, export.

fast, report = optimize(model, dtype=torch.bfloat16)     # BN folded, branches merged, channels-last, bf16
deployed, merges = reparameterize(model)                   # train wide, deploy narrow: one conv per block
frozen = freeze_for_cpu(model, (1, 1, 28, 28))             # TorchScript, conv + ReLU fused
result = export_onnx(model, "model.onnx", (1, 1, 28, 28))  # checked with onnxruntime
timing = bench(model, (1, 28, 28))                         # eager vs optimised, 1×1 roofline
"""

from onebyone.deploy.bench import BenchResult, LatencyRow, PointwiseRow, bench, pointwise_roofline
from onebyone.deploy.export import ExportResult, export_onnx
from onebyone.deploy.fold import FoldResult, fold_batchnorm
from onebyone.deploy.freeze import freeze_for_cpu
from onebyone.deploy.optimize import CastIO, OptimizeResult, optimize
from onebyone.deploy.reparam import Merge, ReparamResult, count_layers, reparameterize
from onebyone.profiling.dtypes import parse_dtype

__all__ = [
    "BenchResult",
    "CastIO",
    "ExportResult",
    "FoldResult",
    "LatencyRow",
    "Merge",
    "OptimizeResult",
    "PointwiseRow",
    "ReparamResult",
    "bench",
    "count_layers",
    "export_onnx",
    "fold_batchnorm",
    "freeze_for_cpu",
    "optimize",
    "parse_dtype",
    "pointwise_roofline",
    "reparameterize",
]
