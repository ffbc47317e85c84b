"""Run every `$ onebyone …` line and the Python block of README.md, as written, in a scratch folder.

    .venv/bin/python scripts/check_readme.py [--keep DIR]

The photos the tour names (cat.png, pair.png, shirt.png) are made first from scikit-image's bundled
photos and a Fashion-MNIST test image, and the Caffe files (deploy.prototxt, nin/deploy.prototxt: the
NIN the tests wrote from the Caffe table; net.caffemodel: that net's initial weights, written by the
tests' own writer); the lines then run in order (the training line makes the run
folder the later lines read). Prints each command with its exit code and seconds, and exits 1 if any
failed. Takes a few minutes on 2 CPU cores (the quick training and compression dominate).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands(readme: str) -> list[str]:
    lines = []
    for line in readme.splitlines():
        if line.startswith("$ onebyone "):
            lines.append(shlex.join(shlex.split(line[2:], comments=True)))  # without the comment
    return lines


def python_block(readme: str) -> str:
    return re.search(r"```python\n(.*?)```", readme, re.S).group(1)


def make_inputs(folder: Path) -> None:
    import numpy as np
    from PIL import Image
    from skimage import data

    from onebyone.data import load_fashion_mnist

    cat, coffee = data.chelsea(), data.coffee()
    Image.fromarray(cat).save(folder / "cat.png")
    pair = np.concatenate([cat[:300, :400], coffee[50:350, 100:500]], axis=1)  # cat left, coffee right
    Image.fromarray(pair).save(folder / "pair.png")
    Image.fromarray(load_fashion_mnist("test").images[0, 0].numpy()).save(folder / "shirt.png")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", metavar="DIR", help="run in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    folder = Path(args.keep or tempfile.mkdtemp(prefix="onebyone-readme-"))
    folder.mkdir(parents=True, exist_ok=True)
    make_inputs(folder)
    env = {**os.environ, "COLUMNS": "100"}
    binary = Path(sys.executable).with_name("onebyone")
    failed = 0
    steps = [(c, [str(binary), *shlex.split(c)[1:]]) for c in commands(readme)]
    steps.append(("the Python block", [sys.executable, "-c", python_block(readme)]))
    for shown, argv in steps:
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        print(f"[{'ok' if proc.returncode == 0 else 'FAILED'} {proc.returncode}] {seconds:6.1f} s  {shown}")
        if proc.returncode != 0:
            failed += 1
            print("    " + (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1])
    print(f"{len(steps) - failed}/{len(steps)} ran as written in {folder}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
