"""Importing and profiling a Caffe prototxt: read, build and `profile` GoogLeNet in under a second (issue 25).

Run:  .venv/bin/python benchmarks/caffe_speed.py [PROTOTXT ...] [--repeats 5]

Default file: tests/caffe/nets/googlenet_deploy.prototxt (written from the paper's table; blob for blob
the shapes of BVLC's deploy.prototxt). Each repeat reads the file, builds the module (meta-device
construction, then the weights allocated and initialised once) and profiles it at the declared input,
in this process after the imports; the first repeat is reported apart: it pays torch's one-off lazy
imports for meta tensors, which profiling a zoo model pays as well, so the zoo's googlenet is timed in a
fresh process the same way for comparison. Also: the whole `python -m onebyone profile FILE` process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from onebyone.caffe import build, read_prototxt
from onebyone.profiling import profile

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "caffe" / "nets" / "googlenet_deploy.prototxt"


def once(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    module = build(read_prototxt(path))
    result = profile(module, (1, *module.input_shape[1:]))
    return time.perf_counter() - start, result.totals["params"]


FIRST_CALL = """
import sys, time
from onebyone.profiling import profile
from onebyone.caffe import build, read_prototxt
from onebyone.models.registry import create_model
start = time.perf_counter()
if sys.argv[1] == "zoo":
    profile(create_model("googlenet"), (1, 3, 224, 224))
else:
    module = build(read_prototxt(sys.argv[1]))
    profile(module, (1, *module.input_shape[1:]))
print(time.perf_counter() - start)
"""


def first_call(what: str) -> float:
    """Seconds of the first build + profile in a fresh process, after its imports."""
    command = [sys.executable, "-c", FIRST_CALL, what]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for path in args.files:
        first, params = once(path)
        times = [once(path)[0] for _ in range(args.repeats)]
        start = time.perf_counter()
        command = [sys.executable, "-m", "onebyone", "profile", str(path), "--format", "json"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        process = time.perf_counter() - start
        print(
            f"first call in a fresh process: {first_call(str(path)):.3f} s; the zoo's googlenet "
            f"(create_model + profile): {first_call('zoo'):.3f} s"
        )
        print(
            f"{path.name}: {params:,} parameters; read + build + profile: first {first:.3f} s, then median "
            f"{statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, {args.repeats} "
            f"repeats); whole `onebyone profile` process {process:.2f} s; load average "
            f"{os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
