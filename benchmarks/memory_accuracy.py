"""Predicted memory against real CPU runs: `estimate_memory` vs the allocator, with torchinfo beside.

Run:  .venv/bin/python benchmarks/memory_accuracy.py [--cases resnet50 unet] [--json out.json]

Each case runs in a fresh child process: the prediction (fake tensors), then one real no-grad
forward and one real training step (forward, backward, optimizer step; the second step, when the
optimizer state exists) on the CPU, measured by the CPU allocator's own reports through
torch.profiler (onebyone/memory/measure.py). The child runs with MALLOC_MMAP_THRESHOLD_
fixed, so that glibc hands every large block back to the system when it is freed and the
resident-set rise of the first step is a second, independent reading of the same peak ("RSS
rise" against "alloc rise"); `--default-malloc` leaves glibc as it is, to see what its heap
keeps. torchinfo's "Estimated Total Size" (input + forward/backward pass +
parameters, `mode="train"`) is shown for the same models, when it is installed (the bench extra).

Targets (issue 26): every predicted training and inference peak within ±10% of the measured one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Case:
    model: str  # a zoo name, or a builder below
    shape: tuple[int, ...]
    optimizer: str
    autocast: str = "float32"
    channels_last: bool = False
    what: str = ""


class SharedBlock(nn.Module):
    """One conv block called 100 times (torchinfo #144: a module called many times)."""

    def __init__(self, channels: int = 32, calls: int = 100) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.calls = calls
        self.head = nn.Linear(channels, 10)

    def forward(self, x):
        x = self.stem(x)
        for _ in range(self.calls):
            x = self.block(x)
        return self.head(x.mean((2, 3)))


class TinyUNet(nn.Module):
    """A U-Net: encoder, decoder with transposed convs and concatenated skips, a 1×1 classifier."""

    def __init__(self, widths=(32, 64, 128, 256), classes: int = 5) -> None:
        super().__init__()

        def block(i, o):
            return nn.Sequential(
                nn.Conv2d(i, o, 3, padding=1),
                nn.BatchNorm2d(o),
                nn.ReLU(inplace=True),
                nn.Conv2d(o, o, 3, padding=1),
                nn.BatchNorm2d(o),
                nn.ReLU(inplace=True),
            )

        self.down = nn.ModuleList()
        channels = 3
        for w in widths:
            self.down.append(block(channels, w))
            channels = w
        self.up = nn.ModuleList(nn.ConvTranspose2d(w, w // 2, 2, stride=2) for w in widths[:0:-1])
        self.merge = nn.ModuleList(block(w, w // 2) for w in widths[:0:-1])
        self.classify = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.classify(x)


def frozen_resnet50() -> nn.Module:
    """ResNet-50 with every parameter frozen but the head (fine-tuning a classifier)."""
    from onebyone.models import create_model

    model = create_model("resnet50")
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("fc.") or name.startswith("head")
    return model


BUILDERS = {"shared-block-x100": SharedBlock, "unet": TinyUNet, "resnet50-frozen": frozen_resnet50}

CASES = {
    "nin-imagenet": Case("nin-imagenet", (32, 3, 224, 224), "sgd-momentum"),
    "googlenet": Case("googlenet", (32, 3, 224, 224), "sgd-momentum"),
    "resnet50": Case("resnet50", (16, 3, 224, 224), "adamw"),
    "resnet18": Case("resnet18", (64, 3, 224, 224), "adam"),
    "efficientnet-lite0": Case("efficientnet-lite0", (32, 3, 224, 224), "adamw"),
    "alexnet": Case("alexnet", (64, 3, 224, 224), "sgd-momentum"),
    "nin-cifar": Case("nin-cifar", (256, 3, 32, 32), "sgd-momentum"),
    "nin-fashion-bf16": Case(
        "nin-fashion",
        (256, 1, 28, 28),
        "sgd-momentum",
        "bfloat16",
        True,
        "the training recipe's bf16, channels-last",
    ),
    "resnet50-bf16-cl": Case("resnet50", (16, 3, 224, 224), "adamw", "bfloat16", True),
    "googlenet-bf16-cl": Case("googlenet", (32, 3, 224, 224), "sgd-momentum", "bfloat16", True),
    "shared-block-x100": Case("shared-block-x100", (8, 3, 64, 64), "adam", what="one block called 100 times"),
    "unet": Case("unet", (2, 3, 512, 512), "adam", what="concatenated skips at 512²"),
    "resnet50-frozen": Case(
        "resnet50-frozen", (32, 3, 224, 224), "adamw", what="frozen backbone, head trained"
    ),
    "alexnet-batch1": Case("alexnet", (1, 3, 224, 224), "adamw", what="batch 1: the optimizer step's peak"),
}


def build(case: Case) -> nn.Module:
    from onebyone.models import create_model

    if case.model in BUILDERS:
        return BUILDERS[case.model]()
    return create_model(case.model, in_channels=case.shape[1])


def run_case(name: str) -> dict:
    """In this (fresh) process: predict, then measure inference and a training step, then torchinfo."""
    from onebyone.memory.estimate import MemorySetup, estimate_memory
    from onebyone.memory.measure import measure_inference, measure_training_step

    case = CASES[name]
    torch.manual_seed(0)
    setup = MemorySetup(case.optimizer, case.autocast, case.channels_last)
    model = build(case)
    start = time.perf_counter()
    predicted = estimate_memory(model, case.shape, setup)
    seconds = time.perf_counter() - start
    inference = measure_inference(model, case.shape, setup)
    training = measure_training_step(model, case.shape, setup)
    row = {
        "case": name,
        "what": case.what,
        "shape": list(case.shape),
        "optimizer": case.optimizer,
        "autocast": case.autocast,
        "channels_last": case.channels_last,
        "predict_seconds": seconds,
        "train_predicted": predicted.training.peak_bytes,
        "train_measured": training.peak_bytes,
        "train_parts": predicted.training.parts,
        "train_alloc_rise": training.first_step_rise_bytes,
        "train_rss_rise": training.rss_rise_bytes,
        "infer_predicted": predicted.inference.peak_bytes,
        "infer_measured": inference.peak_bytes,
        "infer_alloc_rise": inference.first_step_rise_bytes,
        "infer_rss_rise": inference.rss_rise_bytes,
        "torchinfo": _torchinfo(model, case),
    }
    return row


def fits_check(name: str, budget: int) -> dict:
    """In this (fresh) process: the largest batch predicted to fit `budget`, then a real step at it."""
    from onebyone.memory.estimate import MemorySetup
    from onebyone.memory.fit import largest_batch
    from onebyone.memory.measure import measure_training_step

    case = CASES[name]
    setup = MemorySetup(case.optimizer, case.autocast, case.channels_last)
    fit = largest_batch(build(case), case.shape[1:], budget, setup)
    measured = measure_training_step(build(case), (fit.batch_size, *case.shape[1:]), setup)
    return {**fit.to_dict(), "case": name, "measured_bytes": measured.peak_bytes}


def _torchinfo(model: nn.Module, case: Case) -> int | None:
    try:
        import torchinfo
    except ImportError:
        return None
    try:
        stats = torchinfo.summary(model, input_size=case.shape, verbose=0, mode="train")
    except Exception:  # torchinfo could not run this model: say so in the table, do not guess
        return None
    return int(stats.total_input + stats.total_output_bytes + stats.total_param_bytes)


def _error(predicted, measured) -> str:
    return f"{100 * (predicted / measured - 1):+.1f}%" if predicted is not None and measured else "n/a"


def _mib(value) -> str:
    return f"{value / 2**20:,.0f}" if value is not None else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--json", help="write every row to this file")
    parser.add_argument(
        "--fits",
        nargs=2,
        metavar=("CASE", "BYTES"),
        default=["nin-cifar", str(2**30)],
        help="after the table: the batch predicted to fit BYTES, measured (default nin-cifar, 1 GiB)",
    )
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc's mmap threshold as it is (the RSS rise then shows what glibc keeps)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--fits-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return
    if args.fits_child:
        print(json.dumps(fits_check(args.fits_child[0], int(args.fits_child[1]))))
        return
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    if not args.default_malloc:
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    load = os.getloadavg()[0]
    print(f"load average {load:.2f}; torch {torch.__version__}; MiB; errors are predicted/measured - 1")
    print(
        f"{'case':20} {'train pred':>10} {'meas':>7} {'err':>6} {'torchinfo':>9} {'err':>7} "
        f"{'infer pred':>10} {'meas':>6} {'err':>6} {'alloc/RSS rise':>14}"
    )
    rows = []
    for name in args.cases:
        done = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, env=env
        )
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode
            print(f"{name:20} failed: {last}", flush=True)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        rise = f"{_mib(row['train_alloc_rise'])}/{_mib(row['train_rss_rise'])}"
        print(
            f"{name:20} {_mib(row['train_predicted']):>10} {_mib(row['train_measured']):>7} "
            f"{_error(row['train_predicted'], row['train_measured']):>6} {_mib(row['torchinfo']):>9} "
            f"{_error(row['torchinfo'], row['train_measured']):>7} {_mib(row['infer_predicted']):>10} "
            f"{_mib(row['infer_measured']):>6} {_error(row['infer_predicted'], row['infer_measured']):>6} "
            f"{rise:>14}",
            flush=True,
        )
    check = [sys.executable, __file__, "--fits-child", *args.fits]
    done = subprocess.run(check, capture_output=True, text=True)
    fit = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    if fit is not None:
        print(
            f"fits {fit['budget_bytes']:,} bytes ({fit['case']}, training): batch {fit['batch_size']}, "
            f"measured {fit['measured_bytes']:,} (≤ budget: {fit['measured_bytes'] <= fit['budget_bytes']}); "
            f"batch {fit['batch_size'] + 1} predicted {fit['next_peak_bytes']:,}"
        )
    else:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode
        print(f"fits check failed: {last}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            record = {"load_average": os.getloadavg(), "torch": torch.__version__, "rows": rows, "fits": fit}
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
