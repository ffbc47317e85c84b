"""kill -9 a small training run at random moments, resume it, and check it ends as if never killed.

One uninterrupted run of `onebyone train` (a subprocess) is the reference. Then, --trials times, the
same command is started into a fresh folder and killed with SIGKILL after a random delay drawn
uniformly between 0 and the reference's wall time (so a kill can land in start-up, data loading,
any step, a checkpoint write or the final save); the resumed run (the same command plus
--resume) is killed the same way, --kills times in all, and the last resume runs to its end.
Each trial passes when:

- the final weights (model.safetensors) are torch.equal to the reference's;
- the folder holds exactly the run files (no temporary file, no lock);
- metrics.jsonl is one row per epoch and one final row, equal to the reference's but for timings.

Prints one row per trial and a summary; exits 1 if any trial fails.

    python benchmarks/kill_resume.py --trials 10 --kills 2 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

RUN_FILES = {"config.json", "metrics.jsonl", "checkpoint.safetensors", "checkpoint.json", "model.safetensors"}
TIMINGS = ("epoch_seconds", "images_per_second")


def command(run: Path, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable, "-m", "onebyone", "train", args.model, "--out", str(run), "--no-progress",
        "--epochs", str(args.epochs), "--subset", str(args.subset), "--val-size", "64", "--test-size", "200",
        "--batch-size", "32", "--set", "width=0.25", "--seed", "1", "--precision", args.precision,
        "--format", "json",
    ]  # fmt: skip


def resume_command(run: Path, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "onebyone",
        "train",
        args.model,
        "--out",
        str(run),
        "--resume",
        "--no-progress",
    ]


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def untimed(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in metrics]


def left_at_kill(run: Path) -> str:
    """What the kill left: the files, and the epoch of the checkpoint if one was saved."""
    if not run.exists():
        return "no folder"
    names = sorted(p.name for p in run.iterdir())
    epoch = ""
    if (run / "checkpoint.json").is_file():
        try:
            epoch = f" (checkpoint epoch {json.loads((run / 'checkpoint.json').read_text())['epoch']})"
        except (ValueError, KeyError):
            epoch = " (checkpoint.json unreadable)"
    short = [n.replace(".safetensors", ".st") for n in names]
    return ", ".join(short) + epoch if names else "empty folder"


def check(run: Path, reference: Path) -> list[str]:
    """What differs from the reference run; empty when the trial passed."""
    problems = []
    names = {p.name for p in run.iterdir()}
    if names != RUN_FILES:
        problems.append(f"files {sorted(names ^ RUN_FILES)} differ")
    expected, got = load_file(str(reference / "model.safetensors")), load_file(str(run / "model.safetensors"))
    if expected.keys() != got.keys() or not all(torch.equal(expected[k], got[k]) for k in expected):
        problems.append("weights differ")
    try:
        if untimed(rows(run)) != untimed(rows(reference)):
            problems.append("metrics.jsonl differs")
    except ValueError:
        problems.append("metrics.jsonl has a torn line")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--kills", type=int, default=2, help="kills per trial (the start, then resumes)")
    parser.add_argument("--seed", type=int, default=0, help="of the kill moments")
    parser.add_argument("--model", default="nin-fashion")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--subset", type=int, default=320)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (printed)")
    args = parser.parse_args()
    draw = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="kill_resume_"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    reference = root / "reference"
    started = time.perf_counter()
    done = subprocess.run(command(reference, args), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    summary = json.loads(done.stdout)
    print(
        f"reference: {args.epochs} epochs of {args.subset} images in {wall:.1f} s wall "
        f"({summary['images_per_second']:.0f} img/s while training), "
        f"test accuracy {summary['test_accuracy']:.4f}",
        flush=True,
    )

    failures = 0
    print(f"{'trial':>5}  {'kills at':>12}  result  left by each kill", flush=True)
    for trial in range(1, args.trials + 1):
        run = root / f"trial{trial}"
        delays, left = [], []
        for _ in range(args.kills):  # a run killed before it made its folder is started afresh
            delays.append(draw.uniform(0, wall))
            again = resume_command(run, args) if run.exists() else command(run, args)
            process = subprocess.Popen(again, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delays[-1])
            finished = process.poll() is not None
            if not finished:
                process.send_signal(signal.SIGKILL)
            process.wait()
            left.append("finished before the kill" if finished else left_at_kill(run))
        again = resume_command(run, args) if run.exists() else command(run, args)
        try:
            result = subprocess.run(again, capture_output=True, text=True, timeout=max(300.0, 20 * wall))
            ended = result.returncode == 0
            problems = (
                check(run, reference) if ended else [f"exit {result.returncode}: {result.stderr.strip()}"]
            )
        except subprocess.TimeoutExpired:
            problems = ["the last resume did not end in time"]
        failures += bool(problems)
        verdict = "ok" if not problems else "FAIL " + "; ".join(problems)
        kills = " ".join(f"{d:.1f}s" for d in delays)
        print(f"{trial:>5}  {kills:>12}  {verdict:<6}  {' | '.join(left)}", flush=True)

    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{args.trials - failures}/{args.trials} trials ({args.kills} kills each) resumed to weights "
        "identical "
        "to the uninterrupted run, no stray files, metrics.jsonl one row per epoch + one final row"
    )
    if args.keep:
        print(f"run folders kept in {root}")
    else:
        shutil.rmtree(root)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
