"""Is training K seeds as one grouped network faster than training them one after another?

One run, in one process, measures the report's training step (nin-fashion, batch 128, SGD with
Nesterov momentum, bf16 autocast and channels-last by default) three ways, taking turns round by
round: K separate models, one model grouped K ways (onebyone.train.grouped_model), and the K
models stacked with torch.func.stack_module_state and vmap. It prints images/s of each (all K
seeds' images), the ratio to separate, and the load average before and after.

    python benchmarks/grouped_training.py                 # K = 8, width 0.5, 1 thread
    python benchmarks/grouped_training.py --k 4 --width 0.25 --precision fp32 --threads 2
    python benchmarks/grouped_training.py --device cuda   # on a GPU (bf16 autocast on CUDA)
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch
import torch.nn.functional as F
from report_recipe import parse_value  # benchmarks/ is on the path of a script run from it

from onebyone.models import create_model
from onebyone.train.grouped_model import group_models


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--layout", choices=["channels-last", "contiguous"], default="channels-last")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the report's workers use 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="steps of each way per round")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="nin-fashion option")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    k, b = args.k, args.batch
    fmt = torch.channels_last if args.layout == "channels-last" else torch.contiguous_format
    options = {"width": args.width, **{key: parse_value(v) for key, v in (s.split("=", 1) for s in args.set)}}
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(create_model("nin-fashion", **options).to(memory_format=fmt))
    generators = [torch.Generator(device).manual_seed(s) for s in range(k)]  # dropout's, on the device
    grouped = group_models(models, generators).to(device, memory_format=fmt)
    models = [model.to(device) for model in models]
    xs = [torch.randn(b, 1, 28, 28, device=device).contiguous(memory_format=fmt) for _ in range(k)]
    ys = [torch.randint(0, 10, (b,), device=device) for _ in range(k)]
    x_grouped = torch.cat(xs, 1).contiguous(memory_format=fmt)  # (B, K, 28, 28)
    y_grouped = torch.stack(ys, 1)  # (B, K)

    def sgd(params):
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    optimizers = [sgd(m.parameters()) for m in models]

    def separate() -> None:
        for model, x, y, optimizer in zip(models, xs, ys, optimizers, strict=True):
            with autocast():
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    grouped_optimizer = sgd(grouped.parameters())

    def one_grouped() -> None:
        with autocast():
            logits = grouped(x_grouped)  # (B, K·10)
        losses = F.cross_entropy(logits.float().view(b, k, -1).permute(0, 2, 1), y_grouped, reduction="none")
        grouped_optimizer.zero_grad()
        losses.mean(0).sum().backward()
        grouped_optimizer.step()

    from torch.func import functional_call, stack_module_state, vmap

    base = copy.deepcopy(models[0]).to("meta")
    params, buffers = stack_module_state(models)
    params = {name: p.detach().requires_grad_() for name, p in params.items()}
    vmap_optimizer = sgd(list(params.values()))
    x_stacked = torch.stack(xs)  # (K, B, 1, 28, 28)

    def vmapped() -> None:
        call = vmap(lambda p, bufs, x: functional_call(base, (p, bufs), (x,)), randomness="different")
        with autocast():
            logits = call(params, buffers, x_stacked)  # (K, B, 10)
        losses = F.cross_entropy(logits.float().permute(1, 2, 0), y_grouped, reduction="none")
        vmap_optimizer.zero_grad()
        losses.mean(0).sum().backward()
        vmap_optimizer.step()

    ways = {"separate": separate, "grouped conv": one_grouped, "vmap": vmapped}
    for step in ways.values():
        step()  # warm-up
    setting = f"nin-fashion {options}, batch {b}, {args.precision}, {args.layout}, {args.threads} thread(s)"
    setting += f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"K = {k}, {setting}")
    print(f"load average before: {os.getloadavg()}")
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, step in ways.items():
            synchronize(device)
            started = time.perf_counter()
            for _ in range(args.steps):
                step()
            synchronize(device)
            rate = k * b * args.steps / (time.perf_counter() - started)
            best[name] = max(best.get(name, 0.0), rate)
    for name, rate in best.items():
        print(f"{name:>13}: {rate:7.0f} images/s (all {k} seeds; best of {args.rounds} rounds), "
              f"{rate / best['separate']:.2f}× separate")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")
    return 0


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a time is of the work and not of its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    raise SystemExit(main())
