"""Profiler speed and memory: onebyone vs torch.utils.flop_counter on meta tensors and the usual peers.

Run:  .venv/bin/python benchmarks/profile_speed.py [--sizes 224 2048] [--tools ...]

Each (tool, input size) runs in a fresh child process on ResNet-50 (batch 1), so peak memory is
that process's own: **peak RSS delta** = ru_maxrss after the measured call minus the RSS just
before it (after building the model and a 64×64 warm-up call), in MiB; for the two meta-tensor
tools, whose RSS barely moves, also the tracemalloc peak of Python allocations in one extra,
untimed call. Wall time is the best of
several calls for the meta-tensor tools (`onebyone`, `flop_counter`) and of fewer calls for the
peers that run the real network (torchinfo, thop, ptflops, fvcore, torchscan: the optional `bench`
extra; any that is not installed or fails is reported as skipped). Ratios are against
`flop_counter` (a bare FlopCounterMode pass over a meta-device model) in the same run.

Targets (issue 4): at 2048², onebyone within 1.5× of flop_counter's time and ≥ 30× faster than
torchinfo, with peak memory that does not grow with the input size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

TOOLS = ["onebyone", "flop_counter", "torchinfo", "thop", "ptflops", "fvcore", "torchscan"]
META_TOOLS = {"onebyone", "flop_counter"}


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _make_call(tool: str, size: int):
    """A function of the input side that runs `tool` once and returns the MACs it reports."""
    import torch

    from onebyone.models import create_model

    if tool == "flop_counter":
        from torch.utils.flop_counter import FlopCounterMode

        with torch.device("meta"):
            model = create_model("resnet50").eval()

        def call(side):
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                model(torch.empty(1, 3, side, side, device="meta"))
            return counter.get_total_flops() // 2

        return call
    model = create_model("resnet50").eval()  # a real model, as a user would hold it
    if tool == "onebyone":
        from onebyone.profiling import profile

        return lambda side: profile(model, (1, 3, side, side)).totals["macs"]
    if tool == "torchinfo":
        from torchinfo import summary

        return lambda side: summary(model, input_size=(1, 3, side, side), verbose=0).total_mult_adds
    if tool == "thop":
        import thop

        def call(side):
            import copy

            # thop adds buffers to the modules it visits; profile a copy so calls stay independent
            x = torch.randn(1, 3, side, side)
            macs, _ = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False)
            return macs

        return call
    if tool == "ptflops":
        from ptflops import get_model_complexity_info

        def call(side):
            macs, _ = get_model_complexity_info(
                model, (3, side, side), as_strings=False, print_per_layer_stat=False, verbose=False
            )
            return macs

        return call
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis

        def call(side):
            analysis = FlopCountAnalysis(model, torch.randn(1, 3, side, side))
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            return analysis.total()

        return call
    if tool == "torchscan":
        from torchscan import crawl_module

        def call(side):
            report = crawl_module(model, (3, side, side))
            totals = report.get("totals")
            if totals and "macs" in totals:  # newer releases: a versioned report with totals
                return totals["macs"]["value"] or totals["macs"]["known_value"]
            return sum(layer["macs"] for layer in report["layers"])

        return call
    raise ValueError(f"unknown tool {tool!r}")


def child(tool: str, size: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    call = _make_call(tool, size)
    call(64)  # warm-up: imports, lazy initialisation
    rss_before = _rss_mib()
    best, macs = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        macs = call(size)
        best = min(best, time.perf_counter() - start)
    result = {"time_s": best, "peak_rss_delta_mib": max(0.0, _peak_rss_mib() - rss_before), "macs": macs}
    if tool in META_TOOLS:
        # RSS moves in pages and the warm-up already grew the heap: also trace Python allocations.
        import tracemalloc

        tracemalloc.start()
        call(size)
        result["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result


def measure(tool: str, size: int, repeats: int) -> dict | None:
    cmd = [sys.executable, __file__, "--child", tool, str(size), str(repeats)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"skipped": "timed out"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"skipped": last[:80]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 2048])
    parser.add_argument("--tools", nargs="+", default=TOOLS, choices=TOOLS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, size, repeats = args.child
        print(json.dumps(child(tool, int(size), int(repeats))))
        return
    tools = ["flop_counter", *[t for t in args.tools if t != "flop_counter"]]
    results: dict[tuple[str, int], dict] = {}
    for size in args.sizes:
        for tool in tools:
            repeats = 7 if tool in META_TOOLS else (3 if size <= 512 else 1)
            results[tool, size] = measure(tool, size, repeats)
            print(f"{tool} {size}²: {results[tool, size]}", file=sys.stderr)
    load = os.getloadavg()
    print(
        f"ResNet-50, batch 1, {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} at the end; peak memory = peak RSS delta of a fresh process (MiB)\n"
    )
    print(
        "| tool | input | time (s) | × flop_counter time | peak RSS Δ (MiB) | tracemalloc peak (MiB) "
        "| MACs reported |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        base = results["flop_counter", size]
        for tool in tools:
            r = results[tool, size]
            if "skipped" in r:
                print(f"| {tool} | {size}² | skipped: {r['skipped']} | | | | |")
                continue
            ratio = r["time_s"] / base["time_s"] if "time_s" in base else float("nan")
            macs = f"{r['macs'] / 1e9:.3f} G" if r["macs"] else "?"
            memory = f"{r['peak_rss_delta_mib']:.1f}"
            traced = f"{r['tracemalloc_peak_mib']:.2f}" if "tracemalloc_peak_mib" in r else ""
            cells = [tool, f"{size}²", f"{r['time_s']:.4f}", f"{ratio:.2f}×", memory, traced, macs]
            print("| " + " | ".join(cells) + " |")
    largest = max(args.sizes)
    ours = results.get(("onebyone", largest), {})
    if "time_s" in ours:
        base = results["flop_counter", largest]
        print(
            f"\nAt {largest}²: onebyone / flop_counter time = {ours['time_s'] / base['time_s']:.2f}× "
            f"(target ≤ 1.5×)",
            end="",
        )
        info = results.get(("torchinfo", largest), {})
        if "time_s" in info:
            speedup = info["time_s"] / ours["time_s"]
            print(f"; torchinfo / onebyone time = {speedup:.0f}× (target ≥ 30×)", end="")
        smallest = results.get(("onebyone", min(args.sizes)), {})
        if "tracemalloc_peak_mib" in smallest:
            print(
                f"; onebyone tracemalloc peak {smallest['tracemalloc_peak_mib']:.2f} MiB at "
                f"{min(args.sizes)}² vs {ours['tracemalloc_peak_mib']:.2f} MiB at {largest}²",
                end="",
            )
        print()


if __name__ == "__main__":
    main()
