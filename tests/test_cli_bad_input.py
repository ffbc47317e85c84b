"""Bad input through the real command line: exit code 2, exactly one stderr line, no traceback (issue 20).

Each row is something a hostile-but-ordinary user types, with the words its one line must contain: IDX
files that lie about their size, decompression bombs, wrong channels and inputs too small, absurd sizes
and batches, unwritable outputs, user models that return a dict, a tuple or None or take two inputs,
factories that exit or raise, damaged run records, a run where a model belongs and the reverse, unknown
names. Rows run in-process through `onebyone.cli.main` (fast; `capfd` sees file descriptor 2 too, where
C++ code writes); a few run as a real `python -m onebyone` process, as a shell sees it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_DIR, write_idx
from onebyone.errors import OneByOneError
from onebyone.progress import DELAY_VARIABLE
from onebyone.train import TrainConfig, train
from tests.caffemodel_writer import tiny_caffemodel

if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
    pytest.skip("Fashion-MNIST not installed", allow_module_level=True)

HEAD = "from torch import nn\n\n"
NET = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(4, 10)

    def forward(self, {inputs}):
        y = self.conv(x).relu().mean((2, 3))
        return {output}


def build():
    return Net()
"""
USER_MODELS = {
    "dict_out": NET.format(inputs="x", output='{"logits": self.fc(y)}'),
    "tuple_out": NET.format(inputs="x", output="self.fc(y), y"),
    "none_out": NET.format(inputs="x", output="None"),
    "two_in": NET.format(inputs="x, z", output="self.fc(y)"),
    "good": NET.format(inputs="x", output="self.fc(y)"),
    "branch": textwrap.dedent(
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1)

            def forward(self, x):
                y = self.conv(x)
                if y.sum() > 0:
                    return y.relu()
                return -y


        def build():
            return Net()
        """
    ),
    "histc": "class Net(nn.Module):\n    def forward(self, x):\n        return x.histc(bins=4)[None]\n\n\n"
    "def build():\n    return Net()\n",
    "exit3": "import sys\n\n\ndef build():\n    sys.exit(3)\n",
    "exit_import": "import sys\n\nsys.exit(3)\n",
    "raises": 'def build():\n    raise RuntimeError("boom\\nsecond line")\n',
}


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header declares width × height RGB pixels (the data does not follow)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def idx_folder(folder: Path, test_images: bytes) -> Path:
    """Fashion-MNIST's four IDX files, small, with `test_images` as the raw test-image file."""
    folder.mkdir()
    write_idx(np.zeros((64, 28, 28), np.uint8), folder / "train-images-idx3-ubyte")
    write_idx(np.zeros(64, np.uint8), folder / "train-labels-idx1-ubyte")
    write_idx(np.zeros(10000, np.uint8), folder / "t10k-labels-idx1-ubyte")
    (folder / "t10k-images-idx3-ubyte").write_bytes(test_images)
    return folder


def idx_header(*shape: int) -> bytes:
    return struct.pack(">HBB", 0, 0x08, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


def damaged(source: Path, name: str, file: str, text: str) -> Path:
    copy = source.parent / name
    shutil.copytree(source, copy)
    (copy / file).write_text(text)
    return copy


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, str]:
    """Run folders (trained, compressed, converted, damaged copies), user models, images, IDX files."""
    root = tmp_path_factory.mktemp("bad-input")
    run = root / "run"
    train(TrainConfig(
        model="nin-fashion", model_overrides={"width": 0.25, "head": "fc"}, epochs=1, subset=64, val_size=0,
        test_size=32, batch_size=32, out=str(run), progress=False, precision="fp32",
    ))  # fmt: skip
    comp, conv = root / "comp", root / "conv"
    assert (
        main(
            [
                "compress",
                str(run),
                "--budget",
                "0.9",
                "--finetune-epochs",
                "0",
                "--batch",
                "1",
                "--repeats",
                "1",
                "--out",
                str(comp),
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert main(["convert", "fc2conv", str(run), "--out", str(conv), "--format", "json"]) == 0
    stopped = root / "stopped"  # a run to resume: stopped after its first of two epochs
    train(TrainConfig(
        model="nin-fashion", model_overrides={"width": 0.25, "head": "fc"}, epochs=2, stop_after_epoch=1,
        subset=64, val_size=16, test_size=32, batch_size=32, out=str(stopped), progress=False,
        precision="fp32",
    ))  # fmt: skip
    places = {"run": run, "comp": comp, "conv": conv, "root": root, "stopped": stopped}
    config = json.loads((run / "config.json").read_text())
    config["config"]["model"] = 5
    fact = json.loads((comp / "factorized.json").read_text())
    fact["input_shape"] = [1, 99999999, 28]
    fc = json.loads((conv / "fc2conv.json").read_text())
    fc["train_config"]["epochs"] = "x"
    for name, source, file, text in [
        ("config_trunc", run, "config.json", "{"),
        ("config_list", run, "config.json", "[]"),
        ("config_model", run, "config.json", json.dumps(config)),
        ("config_os", run, "config.json", json.dumps({"schema_version": 1, "config": {
            **json.loads((run / "config.json").read_text())["config"], "model": "os:system",
            "model_overrides": {"command": "true"}}})),
        ("checkpoint_json", run, "checkpoint.json", "{"),
        ("weights", run, "model.safetensors", "garbage"),
        ("fact_trunc", comp, "factorized.json", "{"),
        ("fact_struct", comp, "factorized.json", json.dumps(
            {"schema_version": 1, "base": {"model": "nin-fashion"}, "structure": [{"name": "features.nope",
             "method": "tucker2", "ranks": [1, 1],
             "layers": [{"type": "ZeroPad2d", "padding": [0, 0, 0, 0]}]}],
             "input_shape": [1, 28, 28], "train_config": None})),
        ("fact_big", comp, "factorized.json", json.dumps(fact)),
        ("fc_trunc", conv, "fc2conv.json", "{"),
        ("fc_shape", conv, "fc2conv.json",
         json.dumps({"schema_version": 1, "source": {"model": "nin-fashion"}, "input_shape": [1, 28]})),
        ("fc_config", conv, "fc2conv.json", json.dumps(fc)),
    ]:  # fmt: skip
        places[name] = damaged(source, name, file, text)
    models = root / "m"
    models.mkdir()
    for name, code in USER_MODELS.items():
        (models / f"{name}.py").write_text(HEAD + code)
    places["m"] = models
    images = root / "img"
    images.mkdir()
    places["bomb"] = bomb_png(images / "bomb.png", 30000, 30000)  # over twice Pillow's limit
    places["bomb12k"] = bomb_png(images / "bomb12k.png", 12000, 12000)  # Pillow only warns
    Image.fromarray(np.full((2, 2, 3), 9, np.uint8)).save(images / "tiny.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(images / "ok.png")
    (images / "notimage.png").write_bytes(b"hello")
    places.update(tiny=images / "tiny.png", ok=images / "ok.png", notimage=images / "notimage.png")
    Image.fromarray(np.full((64, 64), 0.5, np.float32), mode="F").save(images / "float.tif")
    places["float_tif"] = images / "float.tif"
    most = 2**32 - 1  # the largest size a header holds: the product of three overflows 64 bits
    places["idx_overflow"] = idx_folder(root / "idx_overflow", idx_header(most, most, most) + bytes(100))
    places["idx_short"] = idx_folder(root / "idx_short", idx_header(10000, 28, 28) + bytes(100))
    bomb = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip: 10 MB of zeros past the header's 7.8 MB
    gz = bomb.compress(idx_header(10000, 28, 28)) + bomb.compress(bytes(18_000_000)) + bomb.flush()
    places["idx_bomb"] = idx_folder(root / "idx_bomb", b"")
    (places["idx_bomb"] / "t10k-images-idx3-ubyte").unlink()
    (places["idx_bomb"] / "t10k-images-idx3-ubyte.gz").write_bytes(gz)
    places["idx_shape"] = idx_folder(root / "idx_shape", idx_header(10000, 7, 112) + bytes(10000 * 784))
    places["afile"] = root / "afile"
    places["afile"].write_text("not a folder")
    places.update(special_files(root))
    places.update(caffe_files(root))
    places.update(bad_values(places))
    return {name: str(path) for name, path in places.items()}


def special_files(root: Path) -> dict[str, Path]:
    """Outputs that are not regular files: a socket, and a character device (as root, a private copy
    of /dev/null made with mknod, so that a regression cannot replace the system's)."""
    import socket

    folder = root / "special"
    folder.mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock"))
    sock.close()
    device = folder / "null"
    if os.geteuid() == 0:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        device = Path(os.devnull)  # only root could replace it
    return {"sock": folder / "sock", "chardev": device}


def with_weights(source: Path, name: str, change) -> Path:
    """A copy of run folder `source` whose model.safetensors `change(state)` edited in place."""
    copy = source.parent / name
    shutil.copytree(source, copy)
    state = load_file(str(copy / "model.safetensors"))
    change(state)
    save_file(state, str(copy / "model.safetensors"))
    return copy


def with_record(source: Path, name: str, file: str, change) -> Path:
    """A copy of run folder `source` whose JSON `file` `change(record)` edited in place (or replaced,
    when it returns text)."""
    record = json.loads((source / file).read_text())
    text = change(record)
    return damaged(source, name, file, text if isinstance(text, str) else json.dumps(record))


def _first_weight(state: dict) -> str:
    return next(name for name, tensor in state.items() if name.endswith("weight") and tensor.ndim > 1)


def _set(path: str, value):
    """change(record) setting the field at dotted `path` ("config.std") to `value`."""

    def change(record):
        *parents, last = path.split(".")
        for key in parents:
            record = record[key] if not key.isdigit() else record[int(key)]
        record[int(last) if last.isdigit() else last] = value

    return change


def bad_values(places: dict[str, Path]) -> dict[str, Path]:
    """Run folders holding values that parse but must not be used (issue 27): non-finite or mistyped
    weights, config.json / factorized.json / fc2conv.json / caffe.json fields out of range or of an
    unknown name or version, nesting too deep."""
    run, comp, conv, caffe = places["run"], places["comp"], places["conv"], places["cf_run"]

    def poison(value):
        return lambda state: state[_first_weight(state)].view(-1).__setitem__(0, value)

    def cast(dtype, every=True):
        def change(state):
            for name in list(state) if every else [_first_weight(state)]:
                if state[name].is_floating_point():
                    state[name] = state[name].to(dtype)

        return change

    def negative_variance(state):
        name = next(n for n in state if n.endswith("running_var"))
        state[name][0] = -1.0

    bad = {
        "w_nan": with_weights(run, "w_nan", poison(float("nan"))),
        "w_inf": with_weights(run, "w_inf", poison(float("inf"))),
        "w_comp_nan": with_weights(comp, "w_comp_nan", poison(float("nan"))),
        "w_conv_nan": with_weights(conv, "w_conv_nan", poison(float("-inf"))),
        "w_caffe_nan": with_weights(caffe, "w_caffe_nan", poison(float("nan"))),
        "w_half": with_weights(run, "w_half", cast(torch.float16)),
        "w_double": with_weights(run, "w_double", cast(torch.float64)),
        "w_int": with_weights(
            run, "w_int", lambda s: s.__setitem__(_first_weight(s), s[_first_weight(s)].int())
        ),
        "w_var": with_weights(run, "w_var", negative_variance),
        "w_extra": with_weights(run, "w_extra", lambda s: s.__setitem__("extra", torch.zeros(2))),
    }
    for name, (path, value) in {
        "c_std0": ("config.std", 0),
        "c_std_neg": ("config.std", -1),
        "c_std_null": ("config.std", None),
        "c_mean_big": ("config.mean", 1e300),
        "c_epochs": ("config.epochs", -5),
        "c_precision": ("config.precision", "fp8"),
        "c_device": ("config.device", "tpu"),
        "c_optimizer": ("config.optimizer", "lion"),
        "c_seed": ("config.seed", 2**70),
        "c_overrides": ("config.model_overrides", [1, 2]),
        "c_test_size": ("config.test_size", 0),
        "c_augment": ("config.augment", "yes"),
        "c_version": ("schema_version", 99),
        "c_version0": ("schema_version", 0),
        "c_version_text": ("schema_version", "1"),
    }.items():
        bad[name] = with_record(run, name, "config.json", _set(path, value))
    bad["c_nan"] = with_record(run, "c_nan", "config.json", lambda r: json.dumps(r).replace("0.3646", "NaN"))
    bad["c_deep"] = with_record(run, "c_deep", "config.json", lambda r: "[" * 100_000 + "]" * 100_000)
    bad["c_extra"] = with_record(run, "c_extra", "config.json", _set("extra", 1))
    for name, (path, value) in {
        "f_shape_float": ("input_shape.1", 28.7),
        "f_shape_bool": ("input_shape.1", True),
        "f_version": ("schema_version", 99),
        "f_channels": ("structure.0.layers.0.out_channels", 10**9),
        "f_type": ("structure.0.layers.0.type", "Warp"),
        "f_overrides": ("base.model_overrides", [1]),
        "f_std": ("train_config.std", 0),
    }.items():
        bad[name] = with_record(comp, name, "factorized.json", _set(path, value))
    for name, (path, value) in {
        "v_shape_bool": ("input_shape.2", True),
        "v_version": ("schema_version", 99),
        "v_epochs": ("train_config.epochs", -5),
        "v_source": ("source", [1]),
    }.items():
        bad[name] = with_record(conv, name, "fc2conv.json", _set(path, value))
    for name, (path, value) in {
        "k_order": ("channel_order", "grb"),
        "k_scale": ("scale", -1),
        "k_classes": ("classes", ["a", "b"]),
        "k_version": ("schema_version", 2),
        "k_shape": ("input_shape", [3, 8]),
    }.items():
        bad[name] = with_record(caffe, name, "caffe.json", _set(path, value))
    bad.update(probed_values(places))
    return bad


def _drop(path: str):
    """change(record) removing the field at dotted `path`."""

    def change(record):
        *parents, last = path.split(".")
        for key in parents:
            record = record[int(key)] if key.isdigit() else record[key]
        del record[int(last) if last.isdigit() else last]

    return change


def with_checkpoint(source: Path, name: str, change) -> Path:
    """A copy of run folder `source` whose checkpoint record (the JSON in checkpoint.safetensors'
    metadata, which --resume reads) `change(record)` edited in place."""
    from safetensors import safe_open

    copy = source.parent / name
    shutil.copytree(source, copy)
    path = copy / "checkpoint.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        record = json.loads(handle.metadata()["onebyone"])
    change(record)
    save_file(load_file(str(path)), str(path), metadata={"onebyone": json.dumps(record)})
    return copy


def probed_values(places: dict[str, Path]) -> dict[str, Path]:
    """What scripts/probe_files.py found accepted or failing after the values above were checked
    (docs/robustness.md, "Probe of 2026-12-03"): fields left out, the resume checkpoint, Caffe sizes."""
    run, comp, conv, caffe, stopped = (places[k] for k in ("run", "comp", "conv", "cf_run", "stopped"))
    bad = {
        "c_no_model": with_record(run, "c_no_model", "config.json", _drop("config.model")),
        "c_no_val_size": with_record(run, "c_no_val_size", "config.json", _drop("config.val_size")),
        "c_unknown_model": with_record(
            run, "c_unknown_model", "config.json", _set("config.model", "nin-fashin")
        ),
        "c_progress": with_record(run, "c_progress", "config.json", _set("config.progress", "x")),
        "c_out_long": with_record(run, "c_out_long", "config.json", _set("config.out", "x" * 5000)),
        "f_method": with_record(comp, "f_method", "factorized.json", _set("structure.0.method", "warp")),
        "f_ranks": with_record(comp, "f_ranks", "factorized.json", _set("structure.0.ranks", [1, 2, 3])),
        "f_train_model": with_record(
            comp, "f_train_model", "factorized.json", _set("train_config.model", "resnet18")
        ),
        "f_no_train": with_record(comp, "f_no_train", "factorized.json", _drop("train_config")),
        "f_null_train": with_record(comp, "f_null_train", "factorized.json", _set("train_config", None)),
        "v_train_options": with_record(
            conv, "v_train_options", "fc2conv.json", _set("train_config.model_overrides.width", 0.5)
        ),
        "k_no_mean": with_record(caffe, "k_no_mean", "caffe.json", _drop("mean")),
        "ck_epoch": with_checkpoint(stopped, "ck_epoch", _set("epoch", -5)),
        "ck_history": with_checkpoint(stopped, "ck_history", _drop("history.0.val_accuracy")),
        "ck_step": with_checkpoint(stopped, "ck_step", lambda r: r.__setitem__("step", r["step"] + 3)),
        "ck_momentum": with_checkpoint(
            stopped, "ck_momentum", _set("optimizer.param_groups.0.momentum", 0.5)
        ),
        "ck_decay": with_checkpoint(stopped, "ck_decay", _drop("optimizer.param_groups.0.weight_decay")),
        "ck_seed": with_checkpoint(stopped, "ck_seed", _set("config.seed", 7)),
        "ck_flip": with_checkpoint(stopped, "ck_flip", _set("config.tta_flip", 1)),  # 1 == True to Python
        # json.dumps writes a bare NaN, which only Python's reader takes
        "ck_nan": with_checkpoint(stopped, "ck_nan", _set("history.0.lr", float("nan"))),
    }
    return bad


CAFFE_NET = """input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "gap" type: "Pooling" bottom: "conv1" top: "gap"
        pooling_param { pool: AVE global_pooling: true } }
"""


def caffe_files(root: Path) -> dict[str, Path]:
    """Caffe definitions and weights: good, malformed, of an unknown layer, in mixed syntax, truncated."""
    folder = root / "caffe"
    folder.mkdir()
    texts = {
        "cf_net": CAFFE_NET,
        "cf_malformed": CAFFE_NET + 'layer { name: "broken"\n',
        "cf_unknown": CAFFE_NET + 'layer { name: "warp" type: "Warp" bottom: "gap" top: "w" }\n',
        "cf_mixed": CAFFE_NET + 'layers { name: "relu" type: RELU bottom: "gap" top: "gap" }\n',
        "cf_stride0": CAFFE_NET.replace("kernel_size: 3", "kernel_size: 3 stride: 0"),
        "cf_kernel0": CAFFE_NET.replace("kernel_size: 3", "kernel_size: 0"),
        "cf_twice": CAFFE_NET.replace("num_output: 4", "num_output: 4 num_output: 5"),
        "cf_wide": CAFFE_NET.replace("num_output: 4", "num_output: 1000000000"),
        "cf_big_input": CAFFE_NET.replace("input_dim: 8 input_dim: 8", "input_dim: 100000000 input_dim: 8"),
        "cf_pad": CAFFE_NET.replace("kernel_size: 3", "kernel_size: 3 pad: 100000"),
        "cf_deep": CAFFE_NET + "x { " * 1000 + "}" * 1000 + "\n",
    }
    places = {}
    for name, text in texts.items():
        places[name] = folder / f"{name}.prototxt"
        places[name].write_text(text)
    weights = {"conv1": [np.zeros((4, 3, 3, 3), np.float32), np.zeros(4, np.float32)]}
    (folder / "cf_good.caffemodel").write_bytes(tiny_caffemodel(weights))
    (folder / "cf_cut.caffemodel").write_bytes(tiny_caffemodel(weights)[:-9])
    weights["conv1"][0] = np.zeros((4, 3, 1, 1), np.float32)
    (folder / "cf_shape.caffemodel").write_bytes(tiny_caffemodel(weights))
    nan = np.zeros((4, 3, 3, 3), np.float32)
    nan[0, 0, 0, 0] = np.nan
    (folder / "cf_nan.caffemodel").write_bytes(tiny_caffemodel({"conv1": [nan, np.zeros(4, np.float32)]}))
    names = ("cf_good", "cf_cut", "cf_shape", "cf_nan")
    places.update({name: folder / f"{name}.caffemodel" for name in names})
    run = root / "cf_run"
    assert (
        main(
            [
                "convert",
                "caffe",
                str(places["cf_net"]),
                "--weights",
                str(places["cf_good"]),
                "--out",
                str(run),
                "--format",
                "json",
            ]
        )
        == 0
    )
    places["cf_run"] = run
    places["cf_record"] = damaged(run, "cf_record", "caffe.json", "{")
    places["cf_copy"] = damaged(run, "cf_copy", "net.prototxt", texts["cf_unknown"])
    return places


# (command line with {places}, words the one error line contains)
ROWS = [
    # IDX files that lie about their size, reached through eval --data-dir
    ("eval {run} --data-dir {idx_overflow}", [f"needs {(2**32 - 1) ** 3} data bytes, found 100"]),
    ("eval {run} --data-dir {idx_short}", ["shape (10000, 28, 28) needs 7840000 data bytes, found 100"]),
    ("eval {run} --data-dir {idx_shape}", ["images of 7×112 pixels", "28×28"]),
    ("eval {run} --data-dir {root}/nowhere", ["data folder", "not found"]),
    # decompression bombs, unreadable and tiny images
    ("predict {run} --image {bomb}", ["DecompressionBombError", "900000000 pixels"]),
    ("predict {run} --image {bomb12k}", ["DecompressionBomb", "144000000 pixels"]),
    ("inspect feature-maps {run} --image {bomb12k} --out x.png", ["144000000 pixels"]),
    ("inspect cam {conv} --image {bomb} --out x.png", ["900000000 pixels"]),
    ("inspect dense {run} --image {bomb12k} --out x.png", ["144000000 pixels"]),
    ("inspect sparsity {run} --image {bomb} --out x.png", ["900000000 pixels"]),
    ("predict {run} --image {notimage}", ["cannot read image", "notimage.png"]),
    ("predict {run} --image {tiny}", ["is 2×2 pixels", "needs at least"]),
    # wrong channels, inputs too small
    (
        "bench nin-fashion --input 3x28x28 --batch 1 --repeats 1",
        ["nin-fashion does not run on input 1×3×28×28", "to have 1 channels"],
    ),
    ("bench nin-fashion --input 1x2x2 --batch 1 --repeats 1", ["input 1×1×2×2", "Output size is too small"]),
    ("export nin-fashion --input 3x28x28 --onnx x.onnx", ["does not run on input 1×3×28×28"]),
    ("export nin-fashion --input 1x2x2 --onnx x.onnx", ["does not run on input 1×1×2×2", "too small"]),
    ("convert fc2conv nin-fashion --set head=fc --input 1x2x2 --out c", ["input 1×1×2×2", "too small"]),
    ("inspect cam nin-fashion --input 1x2x2 --image {ok} --out x.png", ["input 1×1×2×2", "too small"]),
    ("compress nin-fashion --input 3x28x28 --budget 0.5 --out c", ["does not run on input", "channels"]),
    ("profile nin-fashion --input 3x28x28", ["expects 1 channels, got input 1×3×28×28"]),
    # absurd sizes, batches, repeats
    ("bench nin-fashion --input 1x999999999x3", ["bad input shape '1x999999999x3'"]),
    ("profile nin-fashion --input 0x28x28", ["bad input shape '0x28x28'"]),
    (
        "bench nin-fashion --input 1x999999x999999 --batch 1 --repeats 1",
        ["input 1×1×999999×999999", "needs at least", "available"],
    ),
    ("bench nin-fashion --batch 0", ["batch sizes must be positive, got [0]"]),
    ("bench nin-fashion --batch 1 --repeats 0", ["repeats must be from 1 to 1,000, got 0"]),
    ("bench nin-fashion --batch 1 --repeats 1000000000000", ["repeats must be from 1 to 1,000"]),
    ("bench nin-fashion --batch 1 100000000 --repeats 1", ["batch 100,000,000 of 1×28×28 needs at least"]),
    ("compress {run} --budget 0.5 --batch 100000000 --repeats 1 --out c", ["batch 100,000,000", "needs"]),
    ("compress {run} --budget 0.5 --repeats 1000000000000 --out c", ["repeats must be from 1 to 1,000"]),
    ("compress {run} --budget 0.5 --hooi-iters 100000000 --out c", ["--hooi-iters must be from 0 to 1000"]),
    ("inspect dense {run} --canvas 100000000 --scenes 1 --out x.png", ["scenes shape", "1,048,576"]),
    (f"inspect dense {{run}} --seed {10**27} --scenes 1 --out x.png", ["seed must be from 0 to"]),
    ("inspect sparsity {run} --batch-size 100000", ["--batch-size in 1..4096"]),
    ("predict {run} --image {ok} --input 1x3000x3000", ["at most 2048 pixels on its shorter side"]),
    ("inspect feature-maps {run} --image {ok} --input 1x1000x40000 --out x.png", ["16,777,216 in all"]),
    ("inspect sparsity {run} --images 0", ["--images must be ≥ 1"]),
    ("export nin-fashion --onnx x.onnx --opset 3", ["opset must be from 7 to"]),
    ("""compare "googlenet naive='true" nin-fashion""", ["bad variant", "No closing quotation"]),
    # unwritable outputs, found before any work
    ("export nin-fashion --onnx /etc/passwd/x.onnx", ["'/etc/passwd' is a file"]),
    ("export nin-fashion --onnx {afile}/x.onnx", ["cannot be written", "is a file"]),
    ("export nin-fashion --onnx {root}", ["is a folder"]),
    ("inspect feature-maps {run} --out /proc/x.png", ["output file '/proc/x.png' cannot be written"]),
    ("inspect sparsity {run} --out {afile}/x.png", ["is a file"]),
    ("convert fc2conv {run} --out {afile}/x", ["cannot be made", "is a file"]),
    ("convert fc2conv {run} --out /proc/x", ["output folder '/proc/x' cannot be written"]),
    ("compress {run} --budget 0.5 --out {afile}/x", ["cannot be made", "is a file"]),
    ("compress {run} --budget 0.5 --out /proc/x", ["output folder '/proc/x' cannot be written"]),
    ("compress {run} --budget 0.5 --out {run}", ["exists and is not empty"]),
    ("eval {run} --png {afile}/x.png", ["is a file"]),
    ("eval {run} --png /proc/x.png", ["cannot be written"]),
    ("eval {run} --png {root}", ["is a folder"]),
    # user models whose forward returns a dict, a tuple or None, or takes two inputs
    *[
        (f"{command} {{m}}/{name}.py:build --input 3x8x8 {rest}", [words])
        for command, rest in [
            ("export", "--onnx x.onnx"),
            ("bench", "--batch 1 --repeats 1"),
            ("convert fc2conv", "--out c"),
            ("inspect cam", "--image {ok} --out x.png"),
            ("inspect dense", "--image {ok} --side 16 --out x.png"),
        ]
        for name, words in [
            ("dict_out", "returns a dict (keys: logits) for input 1×3×8×8"),
            ("tuple_out", "returns a tuple of 2 values for input 1×3×8×8"),
            ("none_out", "returns None for input 1×3×8×8"),
            ("two_in", "does not run on input 1×3×8×8: TypeError: Net.forward() missing 1 required"),
        ]
    ],
    ("profile {m}/two_in.py:build --input 3x8x8", ["forward() missing 1 required positional argument"]),
    *[
        (
            f"inspect {what} {{m}}/two_in.py:build --input 3x8x8 --image {{ok}} --out x.png",
            ["missing 1 required"],
        )
        for what in ("feature-maps", "sparsity", "box")
    ],
    ("compress {m}/two_in.py:build --input 3x8x8 --budget 0.9 --out c", ["missing 1 required"]),
    ("predict {m}/good.py:build --image {ok}", ["user code has no known normalisation"]),
    # user factories that exit or raise
    ("profile {m}/exit3.py:build --input 3x8x8", ["building", "exit3.py:build failed: SystemExit: 3"]),
    ("bench {m}/exit_import.py:build --input 3x8x8", ["importing", "exit_import.py failed: SystemExit: 3"]),
    ("export {m}/raises.py:build --input 3x8x8 --onnx x.onnx", ["raises.py:build failed: RuntimeError"]),
    # damaged run records
    ("eval {config_trunc}", ["config_trunc/config.json", "unreadable run configuration"]),
    ("profile {config_list}", ["config_list/config.json", "unreadable run configuration"]),
    ("inspect sparsity {config_model}", ["config_model/config.json", "model must be str"]),
    ("compress {config_trunc} --budget 0.5 --out c", ["config_trunc/config.json"]),
    ("convert fc2conv {config_trunc} --out c", ["config_trunc/config.json"]),
    ("eval {config_os}", ["made from user code 'os:system'", "--trust-code"]),
    ("profile {weights}", ["weights/model.safetensors", "unreadable safetensors file"]),
    ("eval {fact_trunc}", ["fact_trunc/factorized.json", "unreadable compressed-run description"]),
    ("profile {fact_struct}", ["fact_struct/factorized.json", "has no layer 'features.nope'"]),
    ("inspect cam {fact_big} --out x.png", ["fact_big/factorized.json", "input_shape[1]", "1,048,576"]),
    ("compress {fact_trunc} --budget 0.5 --out c", ["fact_trunc/factorized.json"]),
    ("convert fc2conv {fact_trunc} --out c", ["fact_trunc/factorized.json"]),
    ("eval {fc_trunc}", ["fc_trunc/fc2conv.json", "unreadable fc2conv description"]),
    ("profile {fc_shape}", ["fc_shape/fc2conv.json", "input_shape must be a list of 3 to 4 items"]),
    ("compress {fc_config} --budget 0.5 --out c", ["fc_config/fc2conv.json", "epochs must be int"]),
    ("inspect feature-maps {fc_trunc}", ["fc_trunc/fc2conv.json"]),
    ("convert fc2conv {fc_trunc} --out c", ["fc_trunc/fc2conv.json"]),
    # values that parse but must not be used (issue 27, docs/robustness.md "Values read"): weights
    *[
        (f"{command} {{{folder}}}{rest}", [f"{folder}/model.safetensors", "weights do not fit", words])
        for command, rest in [
            ("eval", ""),
            ("predict", " --image {ok}"),
            ("inspect sparsity", " --images 8"),
            ("export", " --onnx x.onnx --format json"),
            ("bench", " --batch 1 --repeats 1"),
            ("profile", ""),
        ]
        for folder, words in [
            ("w_nan", "holds NaN or Inf"),
            ("w_half", "is float16; the model takes float32"),
        ]
    ],
    ("eval {w_inf}", ["w_inf/model.safetensors", "holds NaN or Inf"]),
    ("predict {w_comp_nan} --image {ok}", ["w_comp_nan/model.safetensors", "factorised model", "holds NaN"]),
    ("export {w_conv_nan} --onnx x.onnx", ["w_conv_nan/model.safetensors", "converted model", "holds NaN"]),
    ("profile {w_caffe_nan}", ["w_caffe_nan/model.safetensors", "imported Caffe net", "holds NaN"]),
    ("eval {w_double}", ["is float64; the model takes float32"]),
    ("eval {w_int}", ["is int32; the model takes float32"]),
    ("eval {w_var}", ["running_var", "negative values"]),
    ("eval {w_extra}", ["holds 'extra', which the model does not have"]),
    # config.json: every field's type, range and known names, its version, its nesting
    *[
        (f"eval {{{folder}}}", [f"{folder}/config.json", "unreadable run configuration", words])
        for folder, words in [
            ("c_std0", "std must be > 0, got 0"),
            ("c_std_neg", "std must be > 0, got -1"),
            ("c_mean_big", "mean must be at most 1, got 1e+300"),
            ("c_epochs", "epochs must be > 0, got -5"),
            ("c_precision", "precision must be one of bf16, fp32, got 'fp8'"),
            ("c_device", "device must be one of cpu, cuda, auto, got 'tpu'"),
            ("c_optimizer", "optimizer must be one of sgd, adamw, got 'lion'"),
            ("c_seed", "seed must be at most 9,223,372,036,854,775,807"),
            ("c_overrides", "model_overrides must be dict, got [1, 2]"),
            ("c_test_size", "test_size must be > 0, got 0"),
            ("c_augment", "augment must be bool, got 'yes'"),
            ("c_version", "written by a newer onebyone (schema version 99; this one reads up to 1)"),
            ("c_version0", "schema version 0 is not one this onebyone reads"),
            ("c_version_text", "schema_version '1' is not an integer"),
            ("c_nan", "NaN is not a number JSON allows"),
            ("c_deep", "nested more than 32 levels deep"),
            ("c_extra", "unknown field 'extra'"),
        ]
    ],
    ("predict {c_std_null} --image {ok}", ["c_std_null/config.json", "mean and std are null"]),
    ("profile {c_precision}", ["c_precision/config.json", "precision must be one of"]),
    ("bench {c_nan} --batch 1 --repeats 1", ["c_nan/config.json", "NaN is not a number"]),
    # factorized.json, fc2conv.json, caffe.json
    *[
        (f"profile {{{folder}}}", [f"{folder}/{file}", words])
        for folder, file, words in [
            (
                "f_shape_float",
                "factorized.json",
                "input_shape[1] must be an integer from 1 to 1,048,576, got 28.7",
            ),
            (
                "f_shape_bool",
                "factorized.json",
                "input_shape[1] must be an integer from 1 to 1,048,576, got True",
            ),
            ("f_version", "factorized.json", "written by a newer onebyone"),
            (
                "f_channels",
                "factorized.json",
                "structure[0].layers[0].out_channels must be an integer from 1",
            ),
            (
                "f_type",
                "factorized.json",
                "structure[0].layers[0].type must be one of Conv2d, Linear, ZeroPad2d",
            ),
            ("f_overrides", "factorized.json", "base.model_overrides must be an object"),
            ("f_std", "factorized.json", "std must be > 0, got 0"),
            (
                "v_shape_bool",
                "fc2conv.json",
                "input_shape[2] must be an integer from 1 to 1,048,576, got True",
            ),
            ("v_version", "fc2conv.json", "written by a newer onebyone"),
            ("v_epochs", "fc2conv.json", "epochs must be > 0, got -5"),
            ("v_source", "fc2conv.json", "source must be an object"),
            ("k_order", "caffe.json", "channel_order must be one of bgr, rgb, got 'grb'"),
            ("k_scale", "caffe.json", "scale must be a finite number > 0"),
            ("k_classes", "caffe.json", "classes: 2 names; the net gives 4 outputs"),
            ("k_version", "caffe.json", "written by a newer onebyone (schema version 2"),
            ("k_shape", "caffe.json", "input_shape must be a list of 3 items"),
        ]
    ],
    # found by scripts/probe_files.py (docs/robustness.md, "Probe of 2026-12-03")
    *[
        (f"eval {{{folder}}}", [f"{folder}/config.json", words])
        for folder, words in [
            ("c_no_model", "the training configuration lacks model"),
            ("c_no_val_size", "lacks val_size"),
            ("c_progress", "progress must be true, false or 'lines', got 'x'"),
            ("c_out_long", "out must be 1 to 4,096 characters, got 5,000"),
        ]
    ],
    ("eval {c_unknown_model}", ["c_unknown_model: the recorded model: unknown model 'nin-fashin'"]),
    ("profile {f_method}", ["f_method/factorized.json", "structure[0].method must be one of tucker2, svd"]),
    ("profile {f_ranks}", ["f_ranks/factorized.json", "structure[0].ranks must be a list of"]),
    ("eval {f_train_model}", ["train_config.model 'resnet18' is not the recorded model's"]),
    ("profile {f_no_train}", ["f_no_train/factorized.json", "train_config is missing"]),
    ("predict {f_null_train} --image {ok}", ["records no training configuration", "normalisation"]),
    ("eval {v_train_options}", ["v_train_options/fc2conv.json", "train_config.model_overrides"]),
    ("profile {k_no_mean}", ["k_no_mean/caffe.json", "mean is missing"]),
    *[
        (f"train nin-fashion --out {{{folder}}} --resume --no-progress", [words])
        for folder, words in [
            ("ck_epoch", "epoch must be an integer from 1"),
            ("ck_history", "history[0].val_accuracy is missing"),
            ("ck_step", "but the last history row ends at step"),
            ("ck_momentum", "momentum is 0.5; the recipe's 0.9"),
            ("ck_decay", "other fields than this torch's optimizer (weight_decay)"),
            ("ck_seed", "not this run's checkpoint: its seed is 7, config.json's 0"),
            ("ck_flip", "its tta_flip is 1, config.json's True"),
            ("ck_nan", "NaN is not a number JSON allows"),
        ]
    ],
    ("profile {cf_stride0}", ["layer 'conv1'", "stride [0, 0] must be at least 1"]),
    ("convert caffe {cf_kernel0} --out c", ["kernel size [0, 0] must be at least 1"]),
    ("profile {cf_twice}", ["num_output is given 2 times; it takes one value"]),
    ("profile {cf_wide}", ["weight of shape 1000000000x3x3x3", "most 2,147,483,647 (INT_MAX)"]),
    ("convert caffe {cf_big_input} --out c", ["input 'data' of shape 1x3x100000000x8", "INT_MAX"]),
    ("profile {cf_pad}", ["top 'conv1'", "would hold", "INT_MAX"]),
    ("profile {cf_deep}", ["cf_deep.prototxt", "nested more than 100 levels deep"]),
    ("convert caffe {cf_net} --weights {cf_nan} --out c", ["layer 'conv1': blob 0 holds NaN or Inf"]),
    ("predict {run} --image {float_tif}", ["floating-point pixels (mode F)", "8 or 16 bits"]),
    ("eval {run} --data-dir {idx_bomb}", ["expands past the 7,840,016 bytes its header declares"]),
    # a run where a model belongs, a model where a run belongs, a split the run does not have
    ("eval nin-fashion", ["'nin-fashion' is a model, not a run folder"]),
    ("eval {m}/good.py:build", ["is a model, not a run folder"]),
    ("compare {run} nin-fashion --set width=0.5", ["width=0.5: options change", "is a run folder"]),
    ("""compare "{run} width=0.5" nin-fashion""", ["width=0.5: options change", "whose model is fixed"]),
    ("profile {run} --set width=2", ["--set changes a model's definition"]),
    ("profile {run} --model {m}/good.py:build", ["made from zoo model 'nin-fashion'", "drop --model"]),
    ("profile ./nowhere/", ["run folder './nowhere/' not found"]),
    ("eval {run} --split val", ["has no val images", "val_size 0"]),
    ("convert fc2conv {comp} --out c", ["is a compressed run"]),
    ("compress {conv} --budget 0.5 --out c", ["is already a converted run"]),
    # Caffe definitions and weights (docs/caffe.md)
    ("profile {cf_malformed}", ["cf_malformed.prototxt: line 7", "to close the message opened at line 6"]),
    ("convert caffe {cf_unknown} --out c", ["layer 'warp'", "unknown layer type 'Warp'", "supported:"]),
    ("compare nin-imagenet {cf_mixed}", ["cf_mixed.prototxt", "mixes", "Caffe refuses such a file"]),
    (
        "convert caffe {cf_net} --weights {cf_shape} --out c",
        ["layer 'conv1'", "blob 0 has shape 4x3x1x1", "needs 4x3x3x3"],
    ),
    ("convert caffe {cf_net} --weights {cf_cut} --out c", ["cf_cut.caffemodel", "truncated"]),
    ("convert caffe {cf_net} --weights {root}/none.caffemodel --out c", ["none.caffemodel", "not found"]),
    ("convert caffe {root}/none.prototxt --out c", ["prototxt file", "not found"]),
    ("export {root}/none.prototxt --onnx x.onnx", ["prototxt file", "not found"]),
    ("convert caffe {cf_net} --classes imagenet --out c", ["has 1000 names; the net gives 4 outputs"]),
    ("convert caffe {cf_net} --mean 1,x --out c", ["--mean must be numbers"]),
    ("convert caffe {cf_net} --out {afile}/x", ["cannot be made", "is a file"]),
    ("profile {cf_net} --set width=2", ["a Caffe prototxt has no --set options"]),
    ("profile {cf_net} --input 3x2x2", ["layer 'conv1'", "does not fit bottoms of shapes [[1, 3, 2, 2]]"]),
    ("predict {cf_run} --image {ok}", ["nothing says what its outputs mean"]),
    ("eval {cf_record}", ["cf_record/caffe.json", "unreadable caffe description"]),
    ("profile {cf_copy}", ["cf_copy/net.prototxt", "unknown layer type 'Warp'"]),
    ("profile {cf_run} --model {m}/good.py:build", ["imported from a Caffe prototxt", "drop --model"]),
    # unknown names
    ("models --format xml", ["invalid choice: 'xml'"]),
    ("nope", ["invalid choice: 'nope'"]),
    ("inspect nope {run}", ["invalid choice: 'nope'"]),
    ("convert nope {run}", ["invalid choice: 'nope'"]),
    ("eval {run} --split nope", ["invalid choice: 'nope'"]),
    *[
        (f"{command} nope{rest}", ["unknown model 'nope'"])
        for command, rest in [
            ("profile", ""),
            ("bench", ""),
            ("optimize", ""),
            ("export", " --onnx x.onnx"),
            ("predict", " --image {ok}"),
            ("compress", " --budget 0.5"),
            ("convert fc2conv", " --out c"),
            ("inspect cam", ""),
            ("compare nin-fashion", ""),
        ]
    ],  # fmt: skip
    ("profile nin-fashion --batch 0", ["--batch must be 1 or more, got 0"]),
    ("profile nin-fashion --fits 12XB", ["bad memory size '12XB'", "GiB"]),
    ("profile nin-fashion --fits=-1GB", ["bad memory size '-1GB'"]),
    ("profile nin-fashion --train --optimizer lion", ["invalid choice: 'lion'"]),
    ("profile nin-fashion --optimizer adamw", ["--optimizer", "add --train"]),
    ("profile nin-fashion --dtype int8", ["invalid choice: 'int8'"]),
    ("profile nin-fashion --device tpu", ["invalid choice: 'tpu'"]),
    ("profile nin-fashion --batch 4 --input-shape 2,1,28,28", ["--batch or in --input-shape, not both"]),
    ("compare nin-fashion resnet18 --optimizer sgd", ["--optimizer", "add --train"]),
    ("compare nin-fashion resnet18 --batch -3", ["--batch must be 1 or more, got -3"]),
    ("profile nin-fashion --set nope=1", ["has no option 'nope'"]),
    ("profile nin-fashion --set width=abc", ["option width must be float"]),
    ("bench nin-fashion --dtype int8", ["unknown dtype 'int8'"]),
    ("bench nin-fashion --device tpu", ["unknown device 'tpu'"]),
    ("compress {run} --budget 0.5 --target nope", ["unknown --target 'nope'"]),
    ("inspect feature-maps {run} --layer nope --out x.png", ["no layer 'nope' in NIN"]),
    ("profile {m}/good.py:nope --input 3x8x8", ["has no callable 'nope'"]),
    ("profile nosuchmodule:build --input 3x8x8", ["cannot import module 'nosuchmodule'"]),
    # issue 27: outputs, flags and signals (docs/robustness.md)
    ("inspect cam {run} --out cam.txt", ["'cam.txt' ends in '.txt'", ".png, .pdf, .svg"]),
    ("eval {run} --png conf", ["'conf' has no suffix", ".png"]),
    ("inspect sparsity {run} --out ''", ["--out: the value is empty"]),
    ("export nin-fashion --onnx ''", ["--onnx: the value is empty"]),
    ("train nin-fashion --out '' --epochs 1", ["--out: the value is empty"]),
    ("profile ''", ["RUN_OR_MODEL: the value is empty"]),
    ("export nin-fashion --onnx {sock}", ["is a socket", "name a regular file"]),
    ("inspect cam {run} --out {sock}", ["is a socket"]),
    ("inspect feature-maps {run} --out {chardev}", ["3 layers make 3 images", "is a device"]),
    ("report --out /proc/x --only C1", ["output folder '/proc/x' cannot be written"]),
    ("report --out {afile} --only C1", ["exists and is not a folder"]),
    ("convert fc2conv {run} --out {afile}", ["exists and is not a folder"]),
    ("profile nin-fashion --set width=1 --set width=2", ["option 'width' is set twice"]),
    ("""compare nin-fashion "nin-fashion width=0.5" --set width=2""", ["option 'width' is set twice"]),
    ("inspect cam {run} --input 1x40x40", ["--input 1x40x40 does not match the 1×28×28 images"]),
    ("inspect sparsity {run} --input 1x40x40", ["does not match the 1×28×28 images"]),
    (
        "inspect cam nin-fashion --set width=0.25 --top 11",
        ["--top must be from 1 to 10 (the classes), got 11"],
    ),
    ("inspect dense {run} --image {ok} --top 11", ["--top must be from 1 to 10"]),
    ("inspect dense {run} --image {ok} --side 0", ["--side must be in 28..2048"]),
    ("inspect dense {run} --side 60", ["--side does not apply to scenes of test images"]),
    ("inspect dense {run} --image {ok} --scenes 3 --seed 1", ["--scenes, --seed does not apply to a photo"]),
    ("inspect dense {run} --items 0", ["--items must be ≥ 1"]),
    ("inspect sparsity {run} --images 5 --image {ok}", ["--images counts test images"]),
    ("predict {run} --input 3x28x28 --image {ok}", ["does not run on input 1×3×28×28"]),
    ("compress {run} --input 1x32x32 --budget 0.5 --out c", ["--input is for a MODEL spec"]),
    ("profile nin-fashion --depth 3 --format json", ["--depth chooses the rows", "JSON has every module"]),
    ("report --list-claims --quick --out r", ["--list-claims measures nothing", "--out, --quick"]),
    ("train nin-fashion --image-size 20 --epochs 1", ["--image-size resizes folder data"]),
    ("train nin-fashion --data digits --data-dir {root}", ["--data-dir is Fashion-MNIST's IDX folder"]),
    (
        "train nin-fashion --epochs 2 --stop-after-epoch 5",
        ["--stop-after-epoch 5 is past the last epoch (2)"],
    ),
    ("profile nin-cifar --set pointwise_layers=1000000", ["pointwise_layers must be from 0 to 64"]),
    ("profile nin-cifar --set width=1e6", ["would have 949,248,017,728,000,010 parameters", "2,000,000,000"]),
    ("train nin-fashion --set width=1e6 --epochs 1", ["would have", "builds at most 2,000,000,000"]),
    ("report --seeds 1000000000000 --out r", ["--seeds: a count must be from 1 to 64, got 1000000000000"]),
    ("report --seeds 0,1180591620717411303424 --out r", ["each seed must be an integer from 0 to 9,223,372"]),
    ("report --seeds=-3 --out r", ["--seeds: a count must be from 1 to 64, got -3"]),
    ("report --seeds 2,3,2 --out r", ["seed 2 is given twice"]),
    (f"report --seeds {','.join(map(str, range(65)))} --out r", ["give 1 to 64 seeds, got 65"]),
    ("inspect cam {conv} --out x.png", ["head.fc (Conv2d) is a 7×7 conv over the whole", "inspect dense"]),
    ("predict {run} --image /dev/null", ["image stream '/dev/null' sent nothing (0 bytes)"]),
    ("predict {run} --image {root}", ["is a folder; name an image file"]),
    (
        "inspect cam {run} --image {sock} --out x.png",
        ["is a socket; name an image file, a pipe or /dev/stdin"],
    ),
    # found by scripts/probe_cli.py (docs/robustness.md, "Probe of 2026-12-03")
    (
        "eval {run} --trust-code",
        ["made from zoo model 'nin-fashion', which runs no user code; drop --trust-code"],
    ),
    ("predict {cf_run} --trust-code --image {ok}", ["imported from a Caffe prototxt", "drop --trust-code"]),
    (
        "compare nin-fashion {run} --trust-code",
        ["--trust-code allows a run folder's user code; none of these"],
    ),
    ("report --quick --only C1 --out {run}", ["is a run folder (a training run); choose another --out"]),
    ("report --quick --only C1 --data-dir nowhere --out r", ["--data-dir: data folder 'nowhere' not found"]),
    ("train nin-fashion --lr 1e300 --epochs 1", ["lr must be at most", "got 1e+300"]),
    ("compress {run} --budget 0.9 --finetune-epochs 1000000000000 --out c", ["from 0 to 2,147,483,647"]),
    ("compress {run} --budget 0.9 --hooi-iters -1 --out c", ["--hooi-iters must be from 0 to 1000, got -1"]),
    ("compress nin-fashion --budget 0.9 --finetune-epochs 2 --out c", ["is a model spec with none"]),
    ("eval {run} --data-dir nowhere", ["data folder 'nowhere' not found"]),
]


def _argv(line: str, world: dict[str, str]) -> list[str]:
    import shlex

    return shlex.split(line.format(**world))


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own errors exit from inside parse_args
        return exit_.code


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(("line", "words"), ROWS, ids=[row[0] for row in ROWS])
def test_bad_input_is_one_line_and_exit_2(world, tmp_path, monkeypatch, capfd, line, words):
    monkeypatch.chdir(tmp_path)  # relative outputs (x.onnx, c, x.png) land here
    capfd.readouterr()  # what the fixture printed
    code = _main(_argv(line, world))
    captured = capfd.readouterr()
    error = one_line(captured.err)
    assert code == 2, captured.err
    assert error.startswith("onebyone"), error
    for word in words:
        assert word.format(**world) in error, error
    assert not any(tmp_path.iterdir()), "nothing is written on bad input"


# As a shell sees it: the process's exit code (a factory's sys.exit(3) is not it) and all of stderr,
# C++ writes included (the ONNX exporter dumps the whole graph to descriptor 2 when an op fails).
PROCESS_ROWS = [
    ("predict {run} --image {bomb12k}", "144000000 pixels"),
    ("export {m}/dict_out.py:build --input 3x8x8 --onnx x.onnx", "returns a dict"),
    ("export {m}/histc.py:build --input 1x4x4 --onnx x.onnx", "cannot export to ONNX"),
    ("profile {m}/exit3.py:build --input 3x8x8", "SystemExit: 3"),
    ("convert caffe {cf_net} --weights {cf_cut} --out c", "truncated"),
]


def test_bad_input_in_a_real_process(world, tmp_path):
    # side by side, so a stage can pass its 2 s before the error: no progress lines (see conftest.py)
    env = {**os.environ, DELAY_VARIABLE: "600"}
    processes = [
        subprocess.Popen([sys.executable, "-m", "onebyone", *_argv(line, world)], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line, _ in PROCESS_ROWS
    ]  # fmt: skip
    for (line, words), process in zip(PROCESS_ROWS, processes, strict=True):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2, (line, err)
        assert words in one_line(err) and out == "", (line, err)


def test_export_warns_once_about_data_dependent_control_flow(world, tmp_path, capfd):
    onnx = tmp_path / "branch.onnx"
    assert main(["export", f"{world['m']}/branch.py:build", "--input", "3x8x8", "--onnx", str(onnx)]) == 0
    warning = one_line(capfd.readouterr().err)
    source = (Path(world["m"]) / "branch.py").read_text().splitlines()
    line = next(n for n, text in enumerate(source, start=1) if "if y.sum() > 0" in text)
    assert warning.startswith(
        "onebyone: warning: Net's forward turns tensor values into Python values at "
        f"branch.py:{line} (bool) (data-dependent control flow)"
    ), warning
    assert onnx.stat().st_size > 0
    assert (
        main(
            [
                "export",
                f"{world['m']}/good.py:build",
                "--input",
                "3x8x8",
                "--onnx",
                str(onnx),
                "--format",
                "json",
            ]
        )
        == 0
    )
    captured = capfd.readouterr()
    assert captured.err == "" and json.loads(captured.out)["warnings"] == []


def test_compare_takes_run_folders_with_models(world, capfd):
    # a run folder (its own width-0.25 model) beside the zoo model and the same variant: equal params
    assert _main(["compare", world["run"], "nin-fashion head=fc width=0.25", "--format", "json"]) == 0
    data = json.loads(capfd.readouterr().out)
    assert data["labels"][0] == world["run"]
    params = next(m for m in data["metrics"] if m["key"] == "params")
    assert params["values"][0] == params["values"][1] > 0


def test_what_a_command_does_not_read_does_not_fail_it(world, capfd):
    """eval and profile need config.json and the weights, not checkpoint.json (that is for resuming)."""
    assert main(["eval", world["checkpoint_json"], "--format", "json"]) == 0
    assert json.loads(capfd.readouterr().out)["images"] == 32


def test_sparsity_on_more_images_than_there_are_measures_them_all(world, capfd):
    assert main(["inspect", "sparsity", world["run"], "--images", "100000000", "--format", "json"]) == 0
    assert json.loads(capfd.readouterr().out)["images"] == 32  # the run's test set, in batches


def test_unreadable_images_in_an_image_folder_are_skipped_and_named(tmp_path, capfd):
    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for index in range(4):
            pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / label / f"{index}.png")
    run = tmp_path / "run"
    train(TrainConfig(
        model="nin-fashion", model_overrides={"width": 0.25}, data=f"folder:{folder}", val_size=0, epochs=1,
        batch_size=8, image_size=16, out=str(run), progress=False, precision="fp32",
    ))  # fmt: skip
    bomb_png(folder / "a" / "bomb.png", 30000, 30000)
    bomb_png(folder / "b" / "bomb12k.png", 12000, 12000)
    assert main(["eval", str(run), "--format", "json"]) == 0
    captured = capfd.readouterr()
    warning = one_line(captured.err)
    assert warning.startswith("onebyone: warning: skipped 2 unreadable image file(s): ") and "bomb" in warning
    skipped = json.loads(captured.out)["skipped"]
    assert sorted(Path(entry.split(": ")[0]).name for entry in skipped) == ["bomb.png", "bomb12k.png"]


@pytest.mark.parametrize("exception", [RuntimeError("first\nsecond"), OneByOneError("first\nsecond")])
def test_a_message_with_newlines_is_printed_as_one_line(monkeypatch, capsys, exception):
    def broken(name):
        raise exception

    monkeypatch.setattr("onebyone.commands.models.count_parameters", broken)
    monkeypatch.delenv("ONEBYONE_TRACEBACK", raising=False)
    code = main(["models"])
    error = one_line(capsys.readouterr().err)
    if isinstance(exception, OneByOneError):  # bad input: exit 2
        assert code == 2 and error == "onebyone: error: first; second"
    else:  # a bug: exit 1, never 2, and how to see the traceback
        assert code == 1 and error.startswith("onebyone: internal error: RuntimeError: first; second (")
        assert "ONEBYONE_TRACEBACK=1" in error


def test_the_traceback_of_a_bug_is_one_variable_away(monkeypatch):
    def broken(name):
        raise RuntimeError("a bug")

    monkeypatch.setattr("onebyone.commands.models.count_parameters", broken)
    monkeypatch.setenv("ONEBYONE_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        main(["models"])


def test_fixture_sanity(world):
    """The rows above fail for the reason they name, not because a fixture is missing."""
    for name in ("run", "comp", "conv"):
        assert main(["profile", world[name], "--format", "json"]) == 0
    assert os.path.getsize(world["bomb"]) < 200


@pytest.mark.parametrize(
    "argv, code",
    [
        (["profile", "no-such-model", "--format", "json"], 2),
        (["compare", "no-such-model", "nin-cifar", "--format", "json"], 2),
    ],
)
def test_an_error_with_format_json_is_json_on_stdout_too(argv, code, capsys):
    """Scripts reading stdout get the error as JSON; the one line stays on stderr."""
    assert main(argv) == code
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record == {"error": captured.err.strip(), "exit_code": code}
    assert captured.err.startswith("onebyone: error: ") and captured.err.count("\n") == 1


def test_an_image_folder_with_a_class_added_since_training_is_refused(tmp_path, capfd):
    """The model of a 2-class folder run evaluated on 3 classes was exit 0, per-class accuracy 0 for the
    class it cannot output."""
    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for index in range(4):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
                folder / label / f"{index}.png"
            )
    run = tmp_path / "run"
    train(TrainConfig(
        model="nin-fashion", model_overrides={"width": 0.25}, data=f"folder:{folder}", val_size=0, epochs=1,
        batch_size=8, image_size=16, out=str(run), progress=False, precision="fp32",
    ))  # fmt: skip
    shutil.copytree(folder / "a", folder / "c")
    capfd.readouterr()
    assert main(["eval", str(run)]) == 2
    error = one_line(capfd.readouterr().err)
    assert f"folder:{folder} now has 3 classes (a, b, c); the run's model was trained on 2" in error


@pytest.mark.parametrize(
    "argv, words",
    [
        (["models", "--format", "json", "--bogus"], "unrecognized arguments: --bogus"),
        (["profile", "--format", "json"], "the following arguments are required: RUN_OR_MODEL"),
        (["profile", "nin-cifar", "--batch", "x", "--format=json"], "argument --batch: invalid int value"),
        (["profile", "nin-cifar", "--dtype", "int9", "--form", "json"], "argument --dtype: invalid choice"),
        (["inspect", "cam", "--format", "json"], "required: RUN_OR_MODEL"),
        (["profile", "", "--format", "json"], "RUN_OR_MODEL: the value is empty"),
    ],
)
def test_a_malformed_command_line_with_format_json_is_json_on_stdout_too(argv, words, capsys):
    """argparse's own errors (unknown flag, missing argument, bad choice, bad int) reach scripts too."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    error = one_line(captured.err)
    assert words in error and error.endswith("(see --help)")
    assert json.loads(captured.out) == {"error": error, "exit_code": 2}


def test_a_malformed_command_line_asking_for_a_table_prints_nothing_on_stdout(capsys):
    with pytest.raises(SystemExit):
        main(["profile", "nin-cifar", "--format", "json", "--format", "table", "--bogus"])
    assert capsys.readouterr().out == ""


def test_a_photo_through_a_pipe_is_read_as_the_file_is(world):
    """`--image /dev/stdin` (a pipe here) and a FIFO are read through, not "not found"; /dev/zero is
    refused after a bounded read (the rows above: /dev/null, a folder, a socket)."""

    def predict(image: str, **options) -> subprocess.CompletedProcess:
        argv = [
            sys.executable,
            "-m",
            "onebyone",
            "predict",
            world["run"],
            "--image",
            image,
            "--format",
            "json",
        ]
        return subprocess.run(argv, capture_output=True, timeout=120, **options)

    from_file, from_pipe = predict(world["ok"]), predict("/dev/stdin", input=Path(world["ok"]).read_bytes())
    assert from_file.returncode == 0 and from_pipe.returncode == 0, from_pipe.stderr
    assert json.loads(from_pipe.stdout)["predictions"] == json.loads(from_file.stdout)["predictions"]
    endless = predict("/dev/zero")
    assert endless.returncode == 2 and b"sends more than 256 MiB" in endless.stderr


def test_a_photo_from_a_fifo_is_read_through(world, tmp_path, capsys):
    import threading

    fifo = tmp_path / "photo.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(Path(world["ok"]).read_bytes()))
    writer.start()
    assert main(["predict", world["run"], "--image", str(fifo), "--format", "json"]) == 0
    writer.join(timeout=10)
    through_fifo = json.loads(capsys.readouterr().out)["predictions"]
    assert main(["predict", world["run"], "--image", world["ok"], "--format", "json"]) == 0
    assert through_fifo == json.loads(capsys.readouterr().out)["predictions"]


@pytest.mark.parametrize(
    "line, words",
    [
        ("inspect box {run} --layer nope --out x.png", "no layer 'nope' in NIN"),
        ("inspect feature-maps {run} --layer nope --out x.png", "no layer 'nope' in NIN"),
        ("inspect feature-maps {run} --out {chardev}", "3 layers make 3 images"),
        ("inspect dense {run} --scenes 2 --canvas 0 --out x.png", "a 0×0 canvas holds 0 items"),
        ("compress {run} --budget 0.9 --hooi-iters 1000000000000 --out c", "--hooi-iters must be from 0"),
        ("eval {run} --data-dir nowhere", "data folder 'nowhere' not found"),
        ("convert caffe {cf_net} --scale nan --out c", "--scale must be a finite number > 0"),
        ("convert caffe {cf_net} --scale 1e12 --out c", "--scale must be a finite number > 0"),
        ("convert caffe {cf_net} --mean 1,inf --out c", "--mean[1] must be a finite number"),
        ("convert caffe {cf_net} --classes abc --out c", "--classes 'abc': not a class list"),
        (
            "convert caffe {cf_net} --weights none.caffemodel --out c",
            "caffemodel 'none.caffemodel' not found",
        ),
        ("convert caffe {cf_net} --input abc --out c", "bad input shape 'abc'"),
        ("profile {run} --set abc", "bad override 'abc'"),
        ("profile {run} --input-shape 0", "bad input shape '0'"),
        ("optimize {run} --trust-code", "which runs no user code; drop --trust-code"),
        ("export {run} --input nan --onnx m.onnx", "bad input shape 'nan'"),
        ("export {run} --onnx m.onnx --opset 0", "opset must be from 7 to"),
        ("convert fc2conv {run} --set width=1 --set width=2 --out c", "option 'width' is set twice"),
        ("predict {run} --image {ok} --top 11", "--top must be between 1 and 10"),
    ],
)
def test_refused_before_the_work_begins(world, tmp_path, monkeypatch, capfd, line, words):
    """With every progress line shown at once, the error is the only line: no stage had begun (the probe
    found these refused after 'capturing activations', 'factorising', 'loading the data')."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEBYONE_PROGRESS_AFTER", "0")
    capfd.readouterr()
    assert _main(_argv(line, world)) == 2
    assert words in one_line(capfd.readouterr().err)
