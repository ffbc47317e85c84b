"""Do the report's verdicts survive a change of seeds? Two `onebyone report` runs with disjoint seed
lists, each timed with /usr/bin/time -v (wall clock, peak RSS), and their verdicts compared claim by
claim and part by part.

    python benchmarks/report_seeds.py           # default runs, seeds 0,1,2,3 vs 4,5,6,7
    python benchmarks/report_seeds.py --quick --json benchmarks/results/report_seeds_quick.json
    python benchmarks/report_seeds.py --seeds-a 0,1,2 --seeds-b 3,4,5

Each run trains into its own fresh folder (nothing cached) unless --keep reuses them. The machine's
load average is printed before and after each run: quote it next to the times.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def tree_rss_kib(root: int) -> int:
    """Resident memory of `root` and all its descendants now (Linux /proc), in KiB."""
    parents, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0"))
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree, grown = {root}, True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grown = True
    return sum(rss.get(pid, 0) for pid in tree)


def run_report(seeds: str, out: Path, extra: list[str]) -> dict:
    """One report run under /usr/bin/time -v; its wall time, peak RSS and report.json.

    /usr/bin/time gives the largest single process's peak; the report's worker processes run beside
    it, so the peak of their sum is sampled from /proc every 0.2 s as well."""
    command = [
        sys.executable,
        "-m",
        "onebyone",
        "report",
        "--seeds",
        seeds,
        "--out",
        str(out),
        "--no-progress",
    ]
    command += extra
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    before = load_average()
    started = time.perf_counter()
    process = subprocess.Popen(timer + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_total = 0
    while process.poll() is None:
        peak_total = max(peak_total, tree_rss_kib(process.pid))
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"report with seeds {seeds} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    report = json.loads((out / "report.json").read_text())
    return {
        "seeds": seeds,
        "command": " ".join(timer + command),
        "wall_seconds": round(wall, 1),
        "peak_rss_gib": round(int(rss.group(1)) / 2**20, 2) if rss else None,
        "peak_total_rss_gib": round(peak_total / 2**20, 2),
        "load_before": before,
        "load_after": load_average(),
        "claim_seconds": {c["id"]: round(c["seconds"], 1) for c in report["claims"]},
        "report": report,
    }


def parts(report: dict) -> dict:
    """(claim, part) → (decision, estimate text) for every verdict of a report.json."""
    table = {}
    for claim in report["claims"]:
        table[(claim["id"], "")] = (claim["verdict"], "")
        for part in claim["verdicts"]:
            e = part["estimate"]
            interval = "" if e["low"] is None else f" ({e['low']:.3g} to {e['high']:.3g})"
            name = part["statement"] + (f" [{part['subject']}]" if part["subject"] else "")
            table[(claim["id"], name)] = (part["decision"], f"{e['value']:.3g}{interval}")
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds-a", default="0,1,2,3")
    parser.add_argument("--seeds-b", default="4,5,6,7")
    parser.add_argument("--out", default="/tmp/report-seeds", help="folder for the two report folders")
    parser.add_argument("--quick", action="store_true", help="compare two --quick runs instead")
    parser.add_argument("--keep", action="store_true", help="reuse the report folders (cached models)")
    parser.add_argument("--json", metavar="PATH", help="write both runs' figures and the comparison here")
    args, extra = parser.parse_known_args()
    extra = (["--quick"] if args.quick else []) + extra
    runs = []
    for seeds in (args.seeds_a, args.seeds_b):
        out = Path(args.out) / f"seeds-{seeds.replace(',', '-')}"
        if out.exists() and not args.keep:
            shutil.rmtree(out)
        print(f"report --seeds {seeds} → {out} (load {load_average()})", flush=True)
        runs.append(run_report(seeds, out, extra))
        r = runs[-1]
        rss, total, load = r["peak_rss_gib"], r["peak_total_rss_gib"], r["load_after"]
        print(
            f"  {r['wall_seconds']:.0f} s wall, peak RSS {rss} GiB (all processes {total}), load after {load}"
        )
    a, b = parts(runs[0]["report"]), parts(runs[1]["report"])
    differ = [key for key in a if a[key][0] != b.get(key, ("",))[0]]
    width = max(len(f"{c} {p}") for c, p in a)
    print(f"\n{'claim / part':<{width}}  seeds {args.seeds_a:<28} seeds {args.seeds_b}")
    for key in a:
        mark = "≠" if key in differ else " "
        label = f"{key[0]} {key[1]}".rstrip() if key[1] else f"{key[0]} (claim)"
        left, right = f"{a[key][0]} {a[key][1]}", f"{b[key][0]} {b[key][1]}"
        print(f"{label:<{width}}{mark} {left:<34} {right}")
    print(f"\nsame verdicts: {'yes' if not differ else 'no'} ({len(differ)} of {len(a)} differ)")
    if args.json:
        payload = {
            "runs": [{k: v for k, v in r.items() if k != "report"} for r in runs],
            "verdicts": {f"{c} {p}".strip(): {"a": a[(c, p)], "b": b.get((c, p))} for c, p in a},
            "differ": [f"{c} {p}".strip() for c, p in differ],
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
