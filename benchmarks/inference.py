"""Inference speed: eager fp32 NCHW vs onebyone.deploy.optimize, and 1×1 convs vs the matmul roofline.

Run:  .venv/bin/python benchmarks/inference.py [--dtype bfloat16] [--repeats 5] [--models nin-fashion ...]

For each model and batch size (1 and 64) it prints the median latency of both variants and the
speedup, then, for every 1×1 conv at batch 64, its achieved GFLOP/s as a fraction of torch.matmul
on the same (pixels × C_in) × (C_in × C_out) shapes in the same precision (both measured here,
in this run). Targets (issue 9): ≥ 2× on the NIN models at batch 64; NIN-ImageNet's 1×1 convs at
≥ 70% of matmul.
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from onebyone.deploy.bench import bench
from onebyone.models import create_model, get_model_entry
from onebyone.tables import speed_text

DEFAULT_MODELS = ["nin-fashion", "nin-imagenet", "resnet50"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}")
    print(f"device {args.device}; optimised = BN folded + channels_last + {args.dtype}\n")
    print("| model | batch | eager fp32 NCHW ms | optimised ms | optimised vs eager |")
    print("|---|---:|---:|---:|---:|")
    roofline = {}
    for name in args.models:
        model = create_model(name).eval()
        result = bench(
            model,
            get_model_entry(name).input_size,
            name=name,
            batch_sizes=tuple(args.batch),
            dtype=args.dtype,
            repeats=args.repeats,
            device=args.device,
        )
        for batch in args.batch:
            ms = {r.variant: r.median_ms for r in result.latency if r.batch == batch}
            print(
                f"| {name} | {batch} | {ms['eager fp32 NCHW']:.2f} | {ms['optimised']:.2f} "
                f"| {speed_text(result.speedup(batch))} |"
            )
        roofline[name] = result.pointwise
    print(f"\n1×1 convs at batch {max(args.batch)} vs torch.matmul, {args.dtype}:\n")
    print("| model | 1×1 convs | median of matmul | min | max | all layers, FLOP-weighted |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows in roofline.items():
        if not rows:
            print(f"| {name} | 0 | | | | |")
            continue
        fractions = [r.fraction for r in rows]
        flops = [2.0 * r.pixels * r.in_channels * r.out_channels for r in rows]
        conv_time = sum(f / (r.conv_gflops * 1e9) for f, r in zip(flops, rows, strict=True))
        matmul_time = sum(f / (r.matmul_gflops * 1e9) for f, r in zip(flops, rows, strict=True))
        print(
            f"| {name} | {len(rows)} | {statistics.median(fractions):.0%} | {min(fractions):.0%} "
            f"| {max(fractions):.0%} | {matmul_time / conv_time:.0%} |"
        )


if __name__ == "__main__":
    main()
