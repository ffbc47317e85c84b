"""How long a memory prediction takes, against one real training step of the same model, same run.

Run:  .venv/bin/python benchmarks/memory_speed.py [--model resnet50] [--batch 64] [--side 224]

In one fresh process: the first prediction (it pays for importing the fake-tensor machinery and
torch.optim's first step), then the best of five of the training-step simulation alone
(`simulate(train=True)`, what "predict the training peak" costs), of the full estimate (inference
and training), and of a `--fits 24GiB` search; then one real training step (AdamW, fp32) on the
CPU. Prints seconds, the ratios to the real step, and the load average before and after.

Target (issue 26): predicting ResNet-50's training peak at batch 64, 224², in < 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn


def best_of(work, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--side", type=int, default=224)
    args = parser.parse_args()

    from onebyone.memory.estimate import MemorySetup, estimate_memory, simulate
    from onebyone.memory.fit import largest_batch
    from onebyone.models import create_model

    load_before = os.getloadavg()
    model = create_model(args.model)
    shape = (args.batch, 3, args.side, args.side)
    setup = MemorySetup("adamw")
    start = time.perf_counter()
    first = simulate(model, shape, setup, train=True)
    cold = time.perf_counter() - start
    train_only = best_of(lambda: simulate(model, shape, setup, train=True))
    full = best_of(lambda: estimate_memory(model, shape, setup))
    fit = largest_batch(model, shape[1:], 24 * 2**30, setup)
    search = best_of(lambda: largest_batch(model, shape[1:], 24 * 2**30, setup), repeats=2)

    optimizer = torch.optim.AdamW(model.parameters(), foreach=False)
    x, labels = torch.randn(shape), torch.zeros(args.batch, dtype=torch.long)
    model.train()
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), labels).backward()
    optimizer.step()
    real = time.perf_counter() - start

    print(
        f"{args.model} at {'×'.join(map(str, shape))}, AdamW, fp32; torch threads {torch.get_num_threads()}"
    )
    print(f"predicted training peak {first.peak_bytes / 2**30:.3f} GiB")
    print(f"first prediction (imports included)   {cold:7.3f} s  {cold / real:6.3f}× a real step")
    print(f"training-step simulation, best of 5   {train_only:7.3f} s  {train_only / real:6.3f}× a real step")
    print(f"inference + training estimate         {full:7.3f} s  {full / real:6.3f}× a real step")
    searched = f"--fits 24GiB search ({fit.simulations} simulations)"
    print(f"{searched:37} {search:7.3f} s  {search / real:6.3f}× a real step -> batch {fit.batch_size}")
    print(f"one real training step on the CPU     {real:7.3f} s  ({args.batch / real:.1f} images/s)")
    print(f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
