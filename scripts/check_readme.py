"""Run every `console` block of README.md, as written, in a scratch folder, and compare what it prints.

    .venv/bin/python scripts/check_readme.py [--keep DIR]

The photos the tour names (cat.png, pair.png, shirt.png) are made first by scripts/make_photos.py,
as the README says, and the Caffe files (deploy.prototxt, nin/deploy.prototxt: the NIN the tests
wrote from the Caffe table; net.caffemodel: that net's initial weights, written by the tests' own
writer); the lines then run in order (the training line makes the run folder the later lines read),
then the Python block. Prints each command with its exit code and seconds, and exits 1 if any failed
or printed other lines than the README shows. Takes a few minutes on 2 CPU cores (the quick
training and compression dominate).

The rule for the lines a README block shows under a `$ onebyone …` line:
- each shown line must be a line of the command's standard output, and the shown lines must come
  in the order shown; lines not shown are not checked; a run of spaces matches any run of spaces
  (a table's columns widen with rows not shown) and trailing spaces are ignored; the commands run
  with COLUMNS=160, so that no line the README shows is wrapped;
- a line that is only `…` (indented or not) stands for lines left out and is not compared;
- a shown line may end in a comment, two spaces then `# …`, which is not compared;
- where that comment contains the word `varies`, every number in the line matches any number
  (a time, a machine-dependent accuracy); nothing else is tolerated.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMENT = re.compile(r"\s{2,}#\s.*$")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass
class Step:
    """One `$ onebyone …` line of a console block and the output lines shown under it."""

    command: str
    shown: list[str] = field(default_factory=list)


def steps(readme: str) -> list[Step]:
    found: list[Step] = []
    for block in re.findall(r"```console\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            if line.startswith("$ onebyone "):
                found.append(Step(shlex.join(shlex.split(line[2:], comments=True))))  # without the comment
            elif line.strip() and line.strip() != "…" and found:
                found[-1].shown.append(line)
    return found


def commands(readme: str) -> list[str]:
    return [step.command for step in steps(readme)]


def expectation(shown: str) -> re.Pattern:
    """The pattern a shown line asks of an output line (see the module doc)."""
    comment = COMMENT.search(shown)
    text = COMMENT.sub("", shown).rstrip()
    varies = comment is not None and "varies" in comment.group(0)
    parts = NUMBER.split(text) if varies else [text]
    return re.compile(NUMBER.pattern.join(_spaced(p) for p in parts))


def _spaced(text: str) -> str:
    return (
        r"\s+".join(re.escape(word) for word in re.split(r"\s+", text)) if text.strip() else re.escape(text)
    )


def missing_lines(shown: list[str], output: str) -> list[str]:
    """The shown lines the output lacks, in order; [] when every one is there, in that order."""
    lines = [line.rstrip() for line in output.splitlines()]
    position = 0
    for index, line in enumerate(shown):
        pattern = expectation(line)
        for offset, candidate in enumerate(lines[position:]):
            if pattern.fullmatch(candidate):
                position += offset + 1
                break
        else:
            return shown[index:]
    return []


def python_block(readme: str) -> str:
    return re.search(r"```python\n(.*?)```", readme, re.S).group(1)


def make_inputs(folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_photos import make_photos

    make_photos(folder)
    make_caffe_files(folder)


def make_caffe_files(folder: Path) -> None:
    import shutil

    from onebyone.caffe import build, read_prototxt

    sys.path.insert(0, str(ROOT))
    from tests.caffemodel_writer import tiny_caffemodel

    prototxt = ROOT / "tests" / "caffe" / "nets" / "nin_imagenet_deploy.prototxt"
    (folder / "nin").mkdir(exist_ok=True)
    shutil.copyfile(prototxt, folder / "deploy.prototxt")
    shutil.copyfile(prototxt, folder / "nin" / "deploy.prototxt")
    net = build(read_prototxt(prototxt))
    blobs = {
        name: [module.weight.detach().numpy(), module.bias.detach().numpy()]
        for name, module in net.named_children()
        if getattr(module, "weight", None) is not None and getattr(module, "bias", None) is not None
    }
    (folder / "net.caffemodel").write_bytes(tiny_caffemodel(blobs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", metavar="DIR", help="run in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    folder = Path(args.keep or tempfile.mkdtemp(prefix="onebyone-readme-"))
    folder.mkdir(parents=True, exist_ok=True)
    make_inputs(folder)
    env = {**os.environ, "COLUMNS": "160", "PYTHONPATH": str(ROOT)}
    failed = 0
    runs = [
        (s.command, [sys.executable, "-m", "onebyone", *shlex.split(s.command)[1:]], s.shown)
        for s in steps(readme)
    ]
    runs.append(("the Python block", [sys.executable, "-c", python_block(readme)], []))
    for shown, argv, lines in runs:
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        missing = missing_lines(lines, proc.stdout) if proc.returncode == 0 else []
        ok = proc.returncode == 0 and not missing
        print(f"[{'ok' if ok else 'FAILED'} {proc.returncode}] {seconds:6.1f} s  {shown}", flush=True)
        if proc.returncode != 0:
            print("    " + (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1])
        elif missing:
            print(f"    the README shows a line it did not print: {missing[0]!r}")
            print(
                "    it printed:\n"
                + "\n".join(f"      {line}" for line in proc.stdout.rstrip().splitlines()[-25:])
            )
        failed += not ok
    print(f"{len(runs) - failed}/{len(runs)} ran as written, printing what the README shows, in {folder}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
