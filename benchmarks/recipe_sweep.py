"""Accuracy of nin-fashion variants and recipe options, many runs in parallel (meant for a GPU).

The 10-minute CPU budget allows about 13 epochs of the current nin-fashion; this script asks
whether another row of similar cost, or another recipe, reaches higher test accuracy. Each
spec (one JSON object per line: a candidate name plus TrainConfig fields) trains in its own
process; one JSON line per run is printed with test/val accuracy, parameters and MACs.

    python benchmarks/recipe_sweep.py specs.jsonl --parallel 8      # on a GPU machine
    python benchmarks/recipe_sweep.py --list                        # candidates: params, MACs

Results from an H100 (2026-11-23) are in benchmarks/results/recipe_sweep_h100.jsonl.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from onebyone.models.nin import NIN, NINConfig, StageConfig

# name: three stages of (conv channels, kernel, 1×1 widths); max pools after stages 1 and 2.
CANDIDATES = {
    "base": ((96, 5, (80, 48)), (96, 5, (96, 96)), (96, 3, (96, 96))),  # nin-fashion until 2026-11-23
    "k3": ((96, 5, (80, 48)), (96, 3, (96, 96)), (96, 3, (96, 96))),
    "k3wide": ((96, 3, (96, 64)), (128, 3, (128, 128)), (128, 3, (128, 128))),  # nin-fashion now (dropout 0)
    "k3mid": ((64, 5, (64, 48)), (128, 3, (128, 128)), (144, 3, (144, 144))),
    "slim1": ((48, 5, (48, 32)), (128, 3, (128, 128)), (160, 3, (160, 160))),
}


def build(name: str, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.3) -> NIN:
    stages = tuple(
        StageConfig(
            c, k, pw, padding=k // 2, pool="max" if i < 2 else None, dropout=dropout if i < 2 else 0.0
        )
        for i, (c, k, pw) in enumerate(CANDIDATES[name])
    )
    config = NINConfig(stages=stages, batch_norm=True, image_size=28)
    return NIN(config, in_channels=in_channels, num_classes=num_classes)


def run_one(spec: dict) -> dict:
    import torch

    import onebyone
    from onebyone.train import TrainConfig, train

    torch.set_num_threads(2)
    fields = {k: v for k, v in spec.items() if k != "candidate"}
    config = TrainConfig(model=f"{__file__}:build", progress=False, **fields)
    config.model_overrides = {"name": spec["candidate"], **config.model_overrides}
    started = time.time()
    result = train(config)
    macs = onebyone.profile(build(spec["candidate"]), (1, 1, 28, 28)).totals["macs"]
    return {
        **spec,
        "test": result.test_accuracy,
        "val": result.val_accuracy,
        "params": result.parameters,
        "macs": macs,
        "seconds": round(time.time() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="?", help='JSON lines: {"candidate": ..., TrainConfig fields}')
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))), flush=True)
        return
    if args.list or not args.specs:
        import onebyone

        for name in CANDIDATES:
            totals = onebyone.profile(build(name), (1, 1, 28, 28)).totals
            print(f"{name:8s} params {totals['params']:>8,}  MACs {totals['macs']:>12,}")
        return
    running: list[subprocess.Popen] = []
    for line in open(args.specs):
        if not line.strip():
            continue
        while len([p for p in running if p.poll() is None]) >= args.parallel:
            time.sleep(0.5)
        running.append(subprocess.Popen([sys.executable, __file__, "--one", line.strip()]))
    for process in running:
        process.wait()


if __name__ == "__main__":
    main()
