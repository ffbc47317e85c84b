"""Does torch.compile pay for the report's ablation training on this CPU?

Times the training step of the report's model (nin-fashion at the report's width, batch 128, bf16
autocast, channels_last, SGD with momentum: what onebyone.train runs) eager and with
`torch.compile(model)`, in interleaved rounds after the compiled model's first (compiling) steps.
Prints the compile time, both step times with their ratio, and how many steps the compile time
needs to pay back; the report trains each model for `ReportConfig.epochs` × ⌊subset / 128⌋ steps.

    python benchmarks/report_compile.py [--width 0.5] [--rounds 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from onebyone.models import create_model
from onebyone.report import ReportConfig
from onebyone.stats import ratio_interval
from onebyone.timing import interleaved_seconds


def training_step(model, batch: int = 128):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 1, 28, 28).to(memory_format=torch.channels_last)  # (B, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(x)  # (B, 10)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=ReportConfig.width)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    torch.manual_seed(0)
    eager = create_model("nin-fashion", width=args.width).to(memory_format=torch.channels_last)
    compiled = create_model("nin-fashion", width=args.width).to(memory_format=torch.channels_last)
    steps = {"eager": training_step(eager), "compiled": training_step(torch.compile(compiled))}
    started = time.perf_counter()
    steps["compiled"]()
    steps["compiled"]()  # the first steps trace and compile forward and backward
    compile_seconds = time.perf_counter() - started
    times = interleaved_seconds(steps, rounds=args.rounds, repeats=5)
    ratio = ratio_interval([e / c for e, c in zip(times["eager"], times["compiled"], strict=True)])
    eager_step, compiled_step = (sorted(times[k])[len(times[k]) // 2] for k in ("eager", "compiled"))
    saved = eager_step - compiled_step
    report_steps = ReportConfig.epochs * (ReportConfig.train_subset // 128)
    result = {
        "width": args.width,
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "compile_seconds": round(compile_seconds, 1),
        "eager_ms_per_step": round(eager_step * 1e3, 2),
        "compiled_ms_per_step": round(compiled_step * 1e3, 2),
        "speedup": [round(ratio.value, 3), round(ratio.low, 3), round(ratio.high, 3)],
        "break_even_steps": round(compile_seconds / saved) if saved > 0 else None,
        "steps_per_report_model": report_steps,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
