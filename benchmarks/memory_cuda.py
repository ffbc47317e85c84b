"""Predicted memory against real CUDA runs: `estimate_memory(..., MemorySetup(device="cuda"))`
against `torch.cuda.max_memory_allocated`, and "will it fit on my card?" tried for real.

Run (on a machine with a GPU):  python benchmarks/memory_cuda.py [--cases resnet50 unet] [--json out.json]
Read a saved run (no GPU):  python benchmarks/memory_cuda.py --read benchmarks/results/memory_cuda_h200.json

Each case of benchmarks/memory_accuracy.py runs in a fresh child process: the two predictions
(`device="cpu"`, the CPU step with oneDNN's copies and the one-parameter-at-a-time optimizer, and
`device="cuda"`, no kernel workspace and the multi-tensor `foreach` optimizer CUDA uses by default),
then on the GPU one no-grad forward in eval mode and one training step (the second; the first makes
the optimizer state and lets cuDNN and cuBLAS make their handles), the same step the estimate
simulates, under `torch.autocast("cuda")` where the case asks for it. Measured: the caching
allocator's peak of allocated bytes (every tensor, cuDNN's convolution workspaces and cuBLAS's
workspace included: they come from the same allocator) and its peak of reserved bytes (what it
took from the driver: allocated plus rounding and cached blocks). The CUDA context (a few hundred
MiB per process, outside the allocator) is in neither.

Then `--fits CASE GIB`: the largest batch predicted to fit GIB, against the largest batch that
really trains when the allocator is capped at GIB (`torch.cuda.set_per_process_memory_fraction`),
found by bisection over real steps (an out-of-memory error means it does not fit).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory_accuracy import CASES, _error, _mib, build  # noqa: E402  (the CPU benchmark's cases, models, figures)

from onebyone.memory.estimate import MemorySetup, autocast_of, estimate_memory, layout_of  # noqa: E402
from onebyone.memory.fit import largest_batch  # noqa: E402
from onebyone.memory.measure import training_step  # noqa: E402
from onebyone.memory.optimizers import build_optimizer  # noqa: E402

GIB = 2**30


def _setup(name: str, device: str) -> MemorySetup:
    case = CASES[name]
    return MemorySetup(case.optimizer, case.autocast, case.channels_last, device=device)


def _on_gpu(name: str, shape: tuple[int, ...]):
    """The case's model and a batch of `shape` on the GPU, in the case's memory layout."""
    setup = _setup(name, "cuda")
    model = build(CASES[name]).cuda()
    if setup.channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(shape, device="cuda").contiguous(memory_format=layout_of(setup, len(shape)))
    return model, x, setup


def measure_inference(name: str) -> dict:
    model, x, setup = _on_gpu(name, CASES[name].shape)
    model.eval()
    with torch.no_grad(), autocast_of(setup, "cuda"):
        model(x)  # the first pass: cuDNN's handle and algorithm choice
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        model(x)
        torch.cuda.synchronize()
    result = {
        "start": start,
        "allocated": torch.cuda.max_memory_allocated(),
        "reserved": torch.cuda.max_memory_reserved(),
    }
    del model, x
    torch.cuda.empty_cache()
    return result


def train_twice(name: str, shape: tuple[int, ...]) -> dict:
    """Two real training steps at `shape`; the allocator's figures of the second."""
    model, x, setup = _on_gpu(name, shape)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(setup.optimizer, trainable, foreach=True)
    step = training_step(model, x, optimizer, setup, "cuda")
    step()
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return {
        "start": start,
        "allocated": torch.cuda.max_memory_allocated(),
        "reserved": torch.cuda.max_memory_reserved(),
    }


def run_case(name: str) -> dict:
    case = CASES[name]
    torch.manual_seed(0)
    model = build(case)
    predicted = {}
    for device in ("cpu", "cuda"):
        began = time.perf_counter()
        result = estimate_memory(model, case.shape, _setup(name, device))
        predicted[device] = {
            "train": result.training.peak_bytes,
            "train_parts": result.training.parts,
            "infer": result.inference.peak_bytes,
            "seconds": time.perf_counter() - began,
        }
    del model
    inference = measure_inference(name)
    training = train_twice(name, case.shape)
    return {
        "case": name,
        "what": case.what,
        "shape": list(case.shape),
        "optimizer": case.optimizer,
        "autocast": case.autocast,
        "channels_last": case.channels_last,
        "predicted": predicted,
        "inference": inference,
        "training": training,
    }


def fits_check(name: str, gib: float) -> dict:
    """Predicted largest batch under `gib` against the real largest, the allocator capped there."""
    case = CASES[name]
    budget = int(gib * GIB)
    fit = largest_batch(build(case), case.shape[1:], budget, _setup(name, "cuda"))
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(budget / total)

    def trains(batch: int) -> bool:
        try:
            train_twice(name, (batch, *case.shape[1:]))
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            torch.cuda.empty_cache()

    low, high = 0, max(2 * fit.batch_size, 2)  # low trains (0: nothing tried), high does not
    while trains(high):
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if trains(middle) else (low, middle)
    return {
        "case": name,
        "budget_bytes": budget,
        "predicted_batch": fit.batch_size,
        "predicted_bytes": fit.peak_bytes,
        "real_batch": low,
    }


def _child(args: list[str]) -> dict | str:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--json", help="write every row to this file")
    parser.add_argument(
        "--fits",
        nargs=2,
        action="append",
        metavar=("CASE", "GIB"),
        help="after the table: predicted largest batch under GIB against the real one (repeatable)",
    )
    parser.add_argument("--read", metavar="JSON", help="print the table of a saved run (no GPU needed)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--fits-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return
    if args.fits_child:
        print(json.dumps(fits_check(args.fits_child[0], float(args.fits_child[1]))))
        return
    if args.read:
        with open(args.read) as f:
            record = json.load(f)
        print(f"{record['device']}; torch {record['torch']}; MiB (read from {args.read})")
        print(HEADER)
        for row in record["rows"]:
            _print_row(row)
        for fit in record["fits"]:
            _print_fit(fit)
        return
    if not torch.cuda.is_available():
        sys.exit("memory_cuda.py: no CUDA device here")
    print(
        f"{torch.cuda.get_device_name(0)}; torch {torch.__version__}; load average "
        f"{os.getloadavg()[0]:.2f}; MiB; errors are predicted/measured - 1"
    )
    print(HEADER)
    rows, fits = [], []
    for name in args.cases:
        row = _child(["--child", name])
        if isinstance(row, str):
            print(f"{name:20} failed: {row}", flush=True)
            continue
        rows.append(row)
        _write(args.json, rows, fits)
        _print_row(row)
    for name, gib in args.fits or []:
        fit = _child(["--fits-child", name, gib])
        if isinstance(fit, str):
            print(f"fits {name} {gib} GiB failed: {fit}", flush=True)
            continue
        fits.append(fit)
        _print_fit(fit)
        _write(args.json, rows, fits)
    print(f"load average {os.getloadavg()[0]:.2f}")
    _write(args.json, rows, fits)


HEADER = (
    f"{'case':20} {'train cuda':>10} {'cpu':>6} {'alloc':>6} {'err':>6} {'reserved':>8} {'start+':>6} "
    f"{'infer cuda':>10} {'alloc':>6} {'err':>6} {'reserved':>8} {'start+':>6}"
)


def _print_row(row: dict) -> None:
    """One case: predicted and measured peaks, and "start+": the bytes allocated when the measured
    step began beyond what the prediction has alive then (weights, optimizer state, the batch) —
    what the libraries keep (cuBLAS's workspaces, docs/memory.md)."""
    cuda, cpu = row["predicted"]["cuda"], row["predicted"]["cpu"]
    train, infer, parts = row["training"], row["inference"], cuda["train_parts"]
    batch = math.prod(row["shape"]) * 4  # a float32 batch
    train_over = train["start"] - parts["weights"] - parts["optimizer"] - batch
    infer_over = infer["start"] - parts["weights"] - batch
    print(
        f"{row['case']:20} {_mib(cuda['train']):>10} {_mib(cpu['train']):>6} {_mib(train['allocated']):>6} "
        f"{_error(cuda['train'], train['allocated']):>6} {_mib(train['reserved']):>8} {_mib(train_over):>6} "
        f"{_mib(cuda['infer']):>10} {_mib(infer['allocated']):>6} "
        f"{_error(cuda['infer'], infer['allocated']):>6} {_mib(infer['reserved']):>8} {_mib(infer_over):>6}",
        flush=True,
    )


def _print_fit(fit: dict) -> None:
    print(
        f"fits {fit['budget_bytes'] / GIB:g} GiB ({fit['case']}, training): predicted batch "
        f"{fit['predicted_batch']} ({_mib(fit['predicted_bytes'])} MiB), really trains up to batch "
        f"{fit['real_batch']}",
        flush=True,
    )


def _write(path: str | None, rows: list, fits: list) -> None:
    """The JSON record so far (written after each row, so a run cut short keeps what it measured)."""
    if path:
        with open(path, "w") as f:
            record = {
                "device": torch.cuda.get_device_name(0),
                "torch": torch.__version__,
                "load_average": os.getloadavg(),
                "rows": rows,
                "fits": fits,
            }
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
