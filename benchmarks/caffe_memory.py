"""Memory of reading a .caffemodel: peak RSS ≤ file size + 400 MB for a VGG-16-sized file (issue 25).

Run:  .venv/bin/python benchmarks/caffe_memory.py [--dir /tmp] [--keep]

Writes, in --dir, a VGG-16 deploy prototxt (from the VGG paper's configuration D: thirteen 3×3 convs,
five max pools, three fully connected layers; 138,357,544 parameters) and a caffemodel of random
weights of that net (528 MB), layer by layer, with the tests' hand writer (tests/caffemodel_writer.py).
Then, in a fresh process, builds the net, loads the file and prints the peak RSS (VmHWM), the RSS
after the imports and after the build, and the file size. The bound holds when the loader keeps one
copy of the weights: the parameters (528 MB, allocated by the build) filled straight from the file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.caffemodel_writer import tiny_layer  # noqa: E402 - the tests' writer

CONFIG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
READ = """
import json, sys
from pathlib import Path
def rss(field="VmRSS"):  # MB; VmHWM is the peak of this process image (getrusage's also counts the
    # parent's pages at fork, before exec)
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))
    return int(line.split()[1]) / 1024
from onebyone.caffe import build, load_caffemodel, read_prototxt
after_imports = rss()
module = build(read_prototxt(sys.argv[1]))
after_build = rss()
report = load_caffemodel(module, sys.argv[2])
peak = rss("VmHWM")
print(json.dumps({"after_imports_mb": after_imports, "after_build_mb": after_build, "peak_mb": peak,
                  "after_load_mb": rss(), "layers": len(report.loaded),
                  "params": sum(p.numel() for p in module.parameters())}))
"""


def vgg16_prototxt() -> tuple[str, list[tuple[str, tuple[int, ...]]]]:
    """The deploy text and every learnable layer's (name, weight shape)."""
    lines = [
        'name: "VGG_ILSVRC_16_layers"',
        'input: "data"',
        "input_shape { dim: 1 dim: 3 dim: 224 dim: 224 }",
    ]
    shapes, bottom, channels, block, index = [], "data", 3, 1, 1
    for width in CONFIG_D:
        if width == "M":
            lines.append(
                f'layer {{ name: "pool{block}" type: "Pooling" bottom: "{bottom}" '
                f'top: "pool{block}" '
                "pooling_param { pool: MAX kernel_size: 2 stride: 2 } }"
            )
            bottom, block, index = f"pool{block}", block + 1, 1
            continue
        name = f"conv{block}_{index}"
        lines.append(
            f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
            f"convolution_param {{ num_output: {width} pad: 1 kernel_size: 3 }} }}"
        )
        lines.append(f'layer {{ name: "relu{block}_{index}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
        shapes.append((name, (width, channels, 3, 3)))
        bottom, channels, index = name, width, index + 1
    inputs = channels * 7 * 7
    for name, width in (("fc6", 4096), ("fc7", 4096), ("fc8", 1000)):
        lines.append(
            f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{name}" '
            f"inner_product_param {{ num_output: {width} }} }}"
        )
        if name != "fc8":
            lines.append(f'layer {{ name: "relu{name[2:]}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
            lines.append(f'layer {{ name: "drop{name[2:]}" type: "Dropout" bottom: "{name}" top: "{name}" }}')
        shapes.append((name, (width, inputs)))
        bottom, inputs = name, width
    lines.append(f'layer {{ name: "prob" type: "Softmax" bottom: "{bottom}" top: "prob" }}')
    return "\n".join(lines) + "\n", shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    args = parser.parse_args()
    text, shapes = vgg16_prototxt()
    prototxt, weights = args.dir / "vgg16_deploy.prototxt", args.dir / "vgg16_random.caffemodel"
    prototxt.write_text(text)
    rng = np.random.default_rng(0)
    with open(weights, "wb") as handle:
        for name, shape in shapes:
            weight = rng.standard_normal(shape, dtype=np.float32)
            blobs = [weight, rng.standard_normal(shape[0], dtype=np.float32)]
            handle.write(tiny_layer(name, blobs))
    size_mb = weights.stat().st_size / 2**20
    done = subprocess.run(
        [sys.executable, "-c", READ, str(prototxt), str(weights)], check=True, capture_output=True, text=True
    )
    result = json.loads(done.stdout)
    bound = size_mb + 400
    verdict = "holds" if result["peak_mb"] <= bound else "DOES NOT HOLD"
    print(
        f"VGG-16: {result['params']:,} parameters, {result['layers']} layers loaded; file {size_mb:,.0f} MB"
    )
    print(
        f"RSS after imports {result['after_imports_mb']:,.0f} MB, after build "
        f"{result['after_build_mb']:,.0f} MB, after load {result['after_load_mb']:,.0f} MB; "
        f"peak {result['peak_mb']:,.0f} MB; bound (file + 400 MB) {bound:,.0f} MB: {verdict}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if not args.keep:
        prototxt.unlink()
        weights.unlink()


if __name__ == "__main__":
    main()
