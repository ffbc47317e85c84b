"""Inference deployment: batch-norm folding, layout and precision, benchmarking, export."""

from onebyone.deploy.fold import FoldReport, fold_batchnorm
from onebyone.deploy.freeze import freeze_for_cpu
from onebyone.deploy.optimize import CastIO, OptimizeReport, optimize

__all__ = ["CastIO", "FoldReport", "OptimizeReport", "fold_batchnorm", "freeze_for_cpu", "optimize"]
