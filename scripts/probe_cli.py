"""Probe every flag of every command with bad values and special outputs, and sort what happened (issue 27).

    PYTHONPATH=. .venv/bin/python scripts/probe_cli.py [--keep DIR] [--only TEXT] [--show KIND ...]

Builds tiny real run folders first (a GAP and an FC-head nin-fashion trained on 64 images, an fc2conv
conversion, a compression, an imported Caffe net), then runs each command line: a base line per
command and sub-command that works, and that line with each option of its parser (read from
`onebyone.cli.build_parser`, so a new flag is probed without editing this file) given -1, 0, 10**12,
nan, an empty string and a word; each on/off flag added (it may not apply to the mode); `--set` given
twice; each output flag pointed at /dev/null, a FIFO (read by a thread), a folder, a file under a
missing folder, /proc, no suffix, a wrong suffix and an existing file. Every line of a command that
has `--format json` runs with it. Each line runs in a forked child (torch imported once) in an empty
working folder, with stdin from /dev/null, and is sorted into:

  ok        exit 0 (valid JSON when asked for; nothing in the working folder but what was named)
  refused   exit 2 with exactly one error line on stderr (progress and warning lines aside)
  late      refused as above, but after a progress line: the work had begun
  internal  exit 1, or a traceback
  code      any other exit code;   timeout   still running after --timeout seconds
  json      --format json and stdout is not one JSON document (on success or error)
  lines     exit 2 with more or fewer than one error line
  stray     a file or folder left in the working folder that the line did not name (`inspect
            feature-maps --out X.png` naming one image per layer X-LAYER.png, as documented, aside), a
            fixture changed (but for the default outputs --help names: RUN/confusion.png,
            RUN/inspect-*.png), or /dev/null no longer a character device

Prints the counts and every line of the kinds given with --show (default: all but ok and refused),
with its exit code and last stderr line; exits 1 when any line is of a kind other than ok and
refused. Takes 3 minutes on 2 quiet CPU cores, 15-30 on busy ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ERROR_LINE = re.compile(r"onebyone( [\w-]+)*: (error|internal error): ")  # argparse's too
PROGRESS_LINE = re.compile(r"onebyone [\w-]+( [\w-]+)?: ")  # a stage line: "onebyone train: epoch 1/1 …"
BAD_VALUES = ["-1", "0", "1000000000000", "nan", "", "abc"]
FILE_OUTPUTS = {("inspect", "--out"), ("export", "--onnx"), ("eval", "--png")}
FOLDER_OUTPUTS = {("train", "--out"), ("compress", "--out"), ("convert", "--out"), ("report", "--out")}
FILE_TARGETS = ["/dev/null", "{fifo}", "{work}", "nowhere/x.png", "/proc/x.png", "x", "x.txt", "existing.png"]
FOLDER_TARGETS = ["/dev/null", "{fifo}", "existing.png", "{run}", "/proc/x", "nowhere/deep/x"]
# Written into the run folder when no --png/--out is given (each command's --help says so).
DEFAULT_OUTPUTS = {"confusion.png", *(f"inspect-{what}.png" for what in ("feature-maps", "sparsity", "cam",
                                                                         "box", "dense"))}  # fmt: skip
TINY = "--subset 64 --val-size 0 --test-size 32 --epochs 1 --batch-size 32 --set width=0.25 --no-progress"
# One line per command and sub-command that works; the probe varies it.
BASES = {
    "report": "report --quick --only C1 --out r --no-progress",
    "models": "models",
    "profile": "profile {run}",
    "compare": "compare nin-fashion {run}",
    "bench": "bench {run} --batch 1 --repeats 1 --no-progress",
    "optimize": "optimize {run}",
    "export": "export {run} --onnx x.onnx",
    "compress": "compress {run} --budget 0.9 --finetune-epochs 0 --batch 1 --repeats 1 --out c --no-progress",
    "convert fc2conv": "convert fc2conv {runfc} --out c",
    "convert caffe": "convert caffe {cf_net} --out c",
    "train": f"train nin-fashion {TINY}",
    "eval": "eval {run}",
    "inspect feature-maps": "inspect feature-maps {run} --out x.png",
    "inspect sparsity": "inspect sparsity {run} --images 8 --out x.png",
    "inspect cam": "inspect cam {run} --out x.png",
    "inspect box": "inspect box {run} --out x.png",
    "inspect dense": "inspect dense {run} --scenes 2 --out x.png",
    "predict": "predict {run} --image {ok}",
}
CAFFE_NET = """input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "gap" type: "Pooling" bottom: "conv1" top: "gap"
        pooling_param { pool: AVE global_pooling: true } }
"""


def run_line(argv: list[str], cwd: Path, timeout: float) -> tuple[int | str, str, str]:
    """Exit code (or "timeout"), stdout and stderr of `onebyone.cli.main(argv)` in a forked child."""
    out, err = cwd.parent / f"{cwd.name}.out", cwd.parent / f"{cwd.name}.err"
    pid = os.fork()
    if pid == 0:  # the child: its own folder, stdin, stdout and stderr; never returns
        code = 1
        try:
            os.chdir(cwd)
            for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, out, os.O_WRONLY | os.O_CREAT),
                                   (2, err, os.O_WRONLY | os.O_CREAT)):  # fmt: skip
                os.dup2(os.open(path, mode, 0o644), fd)
            from onebyone.cli import main

            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code: int | str = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            code = "timeout"
            break
        time.sleep(0.05)
    return code, out.read_text(errors="replace"), err.read_text(errors="replace")


def fixtures(work: Path) -> dict[str, str]:
    """The run folders, images and files the lines name, made with the real commands."""
    from PIL import Image

    places = {"work": str(work)}
    import numpy as np

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        work / "ok.png"
    )
    (work / "net.prototxt").write_text(CAFFE_NET)
    places.update(ok=str(work / "ok.png"), cf_net=str(work / "net.prototxt"))
    steps = {
        "run": f"train nin-fashion {TINY} --out {work}/run",
        "runfc": f"train nin-fashion {TINY} --set head=fc --out {work}/runfc",
        "conv": f"convert fc2conv {work}/runfc --out {work}/conv",
        "comp": f"compress {work}/run --budget 0.9 --finetune-epochs 0 --batch 1 --repeats 1 "
        f"--out {work}/comp",
        "cf_run": f"convert caffe {work}/net.prototxt --out {work}/cf_run",
    }
    for name, line in steps.items():
        if (work / name).is_dir():  # --keep DIR of an earlier probe: made already
            places[name] = str(work / name)
            continue
        scratch = Path(tempfile.mkdtemp(dir=work / "cwd"))
        code, _, err = run_line(shlex.split(line), scratch, 600)
        if code != 0:
            raise SystemExit(f"fixture {name} failed ({code}): {err.strip()[-300:]}")
        places[name] = str(work / name)
    return places


def option_actions(parser: argparse.ArgumentParser, words: list[str]) -> list[argparse.Action]:
    """The options of the (sub-)command `words` names, as its parser holds them."""
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def without(tokens: list[str], option: str, nargs) -> list[str]:
    """`tokens` with `option` and the value(s) it took removed."""
    out, skip = [], 0
    for token in tokens:
        if skip:
            if not token.startswith("-"):
                skip -= 1
                continue
            skip = 0
        if token == option:
            skip = 0 if nargs == 0 else (99 if nargs in ("+", "*") else 1)
            continue
        out.append(token)
    return out


def lines_to_probe() -> list[tuple[str, list[str], list[str]]]:
    """(command, argv template, the outputs it names) for every line of the probe."""
    from onebyone.cli import build_parser

    parser = build_parser()
    lines = []
    for command, base in BASES.items():
        words = command.split()
        tokens = shlex.split(base)
        actions = option_actions(parser, words)
        has_json = any("--format" in a.option_strings and "json" in (a.choices or ()) for a in actions)
        variants = [tokens]
        for action in actions:
            option = max(action.option_strings, key=len)
            rest = without(tokens, option, action.nargs)
            if option == "--format":
                variants += [[*rest, option, value] for value in ("xml", "")]
                continue
            if action.nargs == 0:
                variants.append([*rest, option])
                continue
            variants += [[*rest, option, value] for value in BAD_VALUES]
            if option == "--set":
                variants.append([*rest, "--set", "width=0.5", "--set", "width=0.25"])
            key = (words[0], option)
            if key in FILE_OUTPUTS or key in FOLDER_OUTPUTS:
                targets = FILE_TARGETS if key in FILE_OUTPUTS else FOLDER_TARGETS
                variants += [[*rest, option, target] for target in targets]
        for argv in variants:
            named = [argv[i + 1] for i, t in enumerate(argv[:-1]) if t in ("--out", "--onnx", "--png")]
            json_too = (
                has_json and "--format" not in argv and not (command == "profile" and "--depth" in argv)
            )
            lines.append((command, argv + (["--format", "json"] if json_too else []), named))
    return lines


def classify(code, out: str, err: str, argv: list[str], stray: list[str]) -> str:
    said = [line for line in err.splitlines() if line.strip()]
    error_lines = [line for line in said if ERROR_LINE.match(line)]
    other = [line for line in said if not line.startswith("onebyone")]
    progress = [line for line in said if PROGRESS_LINE.match(line) and not ERROR_LINE.match(line)]
    if code == "timeout":
        return "timeout"
    if code == 1 or "Traceback" in err:
        return "internal"
    if code not in (0, 2):
        return "code"
    if "json" in argv[-1:]:
        try:
            record = json.loads(out)
        except ValueError:
            return "json"
        if code == 2 and not (isinstance(record, dict) and record.get("exit_code") == 2):
            return "json"
    if stray:
        return "stray"
    if code == 0:
        return "ok"
    if len(error_lines) != 1 or other:
        return "lines"
    return "late" if progress else "refused"


def snapshot(places: dict[str, str]) -> dict[str, tuple]:
    """What each fixture folder holds (names, sizes, times), to find a line that changed one."""
    seen = {}
    for name in ("run", "runfc", "conv", "comp", "cf_run"):
        for path in sorted(Path(places[name]).rglob("*")):
            info = path.lstat()
            if path.name not in DEFAULT_OUTPUTS:  # what a command writes into RUN without --out/--png
                seen[str(path)] = (info.st_size, info.st_mtime_ns)
    return seen


def probe(work: Path, places: dict[str, str], lines, timeout: float, show: set[str]) -> Counter:
    counts: Counter = Counter()
    before = snapshot(places)
    for index, (_, template, named) in enumerate(lines):
        cwd = work / "cwd" / f"line{index}"
        cwd.mkdir()
        (cwd / "existing.png").write_bytes(b"existing")
        fifo = cwd / "out.fifo"
        os.mkfifo(fifo)
        reader = threading.Thread(target=lambda f=fifo: open(f, "rb").read(), daemon=True)
        reader.start()
        argv = [t.format(**places, fifo=fifo) for t in template]
        started = time.monotonic()
        code, out, err = run_line(argv, cwd, timeout)
        seconds = time.monotonic() - started
        if reader.is_alive():  # nothing wrote the FIFO: open it once so the reader ends
            with open(fifo, "wb"):
                pass
        names = {Path(n.format(**places, fifo=fifo)).parts[0] for n in named if n and not n.startswith("/")}
        stems = tuple(f"{Path(n).stem}-" for n in names)  # feature-maps: OUT-STEM-LAYER.png (documented)
        expected = {"existing.png", "out.fifo", *names}
        stray = [p.name for p in cwd.iterdir() if p.name not in expected and not p.name.startswith(stems)]
        after = snapshot(places)
        if after != before:
            stray.append(f"fixtures changed: {sorted(set(after) ^ set(before))[:3]}")
            before = after
        if not stat.S_ISCHR(os.stat(os.devnull).st_mode):
            stray.append("/dev/null is no longer a device")
        kind = classify(code, out, err, argv, stray)
        counts[kind] += 1
        if kind in show:
            last = (err.strip().splitlines() or [""])[-1][:300]
            print(f"{kind:8} {code!s:>7} {seconds:5.1f}s  onebyone {shlex.join(argv)}\n{'':26}{last}"
                  + (f"\n{'':26}stray: {stray}" if stray else ""), flush=True)  # fmt: skip
        shutil.rmtree(cwd, ignore_errors=True)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    parser.add_argument("--only", metavar="TEXT", help="only lines whose command contains TEXT")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a line may run (default 120)")
    parser.add_argument("--show", nargs="+", default=["late", "internal", "code", "timeout", "json", "lines",
                                                      "stray"], help="kinds of outcome to print")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("ONEBYONE_PROGRESS_AFTER", "0")  # every stage line shows: was the work begun?
    os.environ.pop("ONEBYONE_TRACEBACK", None)
    work = Path(args.keep or tempfile.mkdtemp(prefix="onebyone-probe-")).absolute()
    (work / "cwd").mkdir(parents=True, exist_ok=True)
    places = fixtures(work)
    lines = [line for line in lines_to_probe() if args.only is None or args.only in line[0]]
    print(f"{len(lines)} command lines", flush=True)
    counts = probe(work, places, lines, args.timeout, set(args.show))
    print(", ".join(f"{kind} {n}" for kind, n in counts.most_common()))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if set(counts) - {"ok", "refused"} else 0  # any other outcome is a finding


if __name__ == "__main__":
    raise SystemExit(main())
