"""Published Caffe definitions through the importer: totals, every blob's shape, syntaxes, declarations.

Run:  .venv/bin/python benchmarks/caffe_published.py FILE.prototxt ... [--json out.json]

The files are not in the repository (their authors' text): fetch them (BVLC/caffe's models/, the NIN
gists, KaimingHe/deep-residual-networks, DeepScale/SqueezeNet, shicai/MobileNet-Caffe, ...) and give
their paths. For each file: its syntax, how it declares its input, the learnable parameters (BatchNorm's
statistics are buffers: their count is printed apart), the output blob and shape, and the time to read
and build it. Then the same net is rewritten, from what was read, in every other input declaration
(`input_dim`, `input_shape`, an Input layer) and, where every layer type has a V1 constant, in the
other syntax; each rewrite must give the same parameters and every blob the same shape.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from onebyone.caffe import build, parse_prototxt, read_prototxt
from onebyone.caffe.net import V1_TYPES
from onebyone.caffe.text_format import Message, Name

V1_NAME = {kind: name for name, (_, kind) in V1_TYPES.items()}
V2_ONLY_FIELDS = {"phase", "propagate_down", "param"}  # V1 spells learning rates as blobs_lr


def write(message: Message, indent: str = "") -> str:
    """Protobuf text of a Message (strings quoted, names bare, numbers as read)."""
    lines = []
    for name, value in message.fields:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Message):
                lines.append(f"{indent}{name} {{\n{write(item, indent + '  ')}{indent}}}")
            elif isinstance(item, Name) or not isinstance(item, str):
                lines.append(f"{indent}{name}: {item}")
            else:
                lines.append(f'{indent}{name}: "{item}"')
    return "".join(line + "\n" for line in lines)


def variants(definition, shape: tuple[int, ...]) -> dict[str, str]:
    """The net's TEST-phase layers with each input declaration, and in the other syntax where possible."""
    blob, v1 = definition.inputs[0].blob, definition.syntax.startswith("V1")
    kept = [layer.message for layer in definition.layers]
    head = [("name", definition.name)]
    declarations = {
        "input_dim": [*head, ("input", blob), *[("input_dim", d) for d in shape]],
        "input_shape": [*head, ("input", blob), ("input_shape", Message(fields=[("dim", d) for d in shape]))],
    }
    key = "layers" if v1 else "layer"
    out = {
        f"{'V1' if v1 else 'V2'}, {how}": write(Message(fields=[*net, *[(key, m) for m in kept]]))
        for how, net in declarations.items()
    }
    shape_message = Message(fields=[("shape", Message(fields=[("dim", d) for d in shape]))])
    input_layer = Message(
        fields=[("name", blob), ("type", "Input"), ("top", blob), ("input_param", shape_message)]
    )
    if v1:
        out["V2, Input layer"] = write(
            Message(
                fields=[*head, ("layer", input_layer), *[("layer", m) for m in _to_v2(definition.layers)]]
            )
        )
    else:
        out["V2, Input layer"] = write(
            Message(fields=[*head, ("layer", input_layer), *[("layer", m) for m in kept]])
        )
        other = _to_v1(kept)
        if other is not None:
            v1_layers = [("layers", m) for m in other]
            out["V1, input_dim"] = write(Message(fields=[*declarations["input_dim"], *v1_layers]))
    return out


def _to_v2(layers) -> list[Message]:
    v1_only = {"blobs_lr", "weight_decay", "blob_share_mode", "param"}
    return [
        Message(
            fields=[
                (k, layer.type if k == "type" else v) for k, v in layer.message.fields if k not in v1_only
            ]
        )
        for layer in layers
    ]


def _to_v1(layers: list[Message]) -> list[Message] | None:
    converted = []
    for layer in layers:
        kind = str(layer.last("type"))
        if kind not in V1_NAME:
            return None  # a type V1 has no constant for (BatchNorm, Scale, ...): Caffe cannot write it either
        fields = [
            (k, Name(V1_NAME[kind]) if k == "type" else v) for k, v in layer.fields if k not in V2_ONLY_FIELDS
        ]
        converted.append(Message(fields=fields))
    return converted


def check(path: Path, size: tuple[int, ...] | None) -> dict:
    start = time.perf_counter()
    definition = read_prototxt(path)
    module = build(definition, size if definition.inputs[0].shape is None else None)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in module.parameters())
    statistics = sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked"))
    shapes = {k: v[1:] for k, v in module.blob_shapes.items()}
    row = {
        "file": path.name,
        "syntax": definition.syntax,
        "declared": definition.inputs[0].declared,
        "input": list(module.input_shape),
        "params": params,
        "batch_norm_statistics": statistics,
        "output": [module.output_name, list(module.blob_shapes[module.output_name])],
        "dropped": len(definition.dropped),
        "seconds": round(seconds, 3),
        "variants": {},
    }
    for name, text in variants(definition, module.input_shape).items():
        other = build(parse_prototxt(text, f"{path.name} as {name}"))
        same = (
            sum(p.numel() for p in other.parameters()) == params
            and {k: v[1:] for k, v in other.blob_shapes.items()} == shapes
        )
        row["variants"][name] = "same" if same else "DIFFERENT"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--input",
        metavar="CxHxW",
        help="the size of a data layer that gives none (the database's, e.g. 3x32x32 for CIFAR-10)",
    )
    args = parser.parse_args()
    size = tuple(int(d) for d in args.input.split("x")) if args.input else None
    rows = [check(path, size) for path in args.files]
    for row in rows:
        stats = f" (+{row['batch_norm_statistics']:,} BN statistics)" if row["batch_norm_statistics"] else ""
        rewritten = ", ".join(f"{k}: {v}" for k, v in row["variants"].items())
        print(
            f"{row['file']}: {row['syntax']}, {row['declared']}, input {'×'.join(map(str, row['input']))}: "
            f"{row['params']:,} parameters{stats}; output {row['output'][0]} "
            f"{'×'.join(map(str, row['output'][1]))}; {row['dropped']} train-only layers dropped; "
            f"{row['seconds']:.2f} s; rewritten as {rewritten}"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
