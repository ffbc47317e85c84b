"""The files scripts/probe_files.py damages and the cases it runs: real files built by onebyone itself,
then one bad value per case (see that script's docstring for how each outcome is sorted)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from onebyone.cli import main
from onebyone.data import write_idx
from onebyone.data.datasets import FASHION_MNIST_DIR, load_fashion_mnist

MISSING = object()  # a mutation that removes the field


# --- the real files ------------------------------------------------------------------------------------

CAFFE_NET = """input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 stride: 1 pad: 0 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "gap" type: "Pooling" bottom: "conv1" top: "gap"
        pooling_param { pool: AVE global_pooling: true } }
"""


def cli(*argv: str) -> None:
    code = main(list(argv))
    if code != 0:
        raise SystemExit(f"building the probe's files failed: {' '.join(argv)} -> {code}")


def build_world(root: Path) -> dict[str, Path]:
    """The real files every case copies and damages."""
    from tests.caffemodel_writer import tiny_caffemodel

    small = ["--subset", "64", "--val-size", "16", "--test-size", "32", "--batch-size", "32"]
    small += ["--set", "width=0.25", "--set", "head=fc", "--precision", "fp32", "--no-progress"]
    run, stopped = root / "run", root / "stopped"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli("train", "nin-fashion", *small, "--epochs", "1", "--out", str(run), "--format", "json")
        cli("train", "nin-fashion", *small, "--epochs", "2", "--stop-after-epoch", "1", "--out", str(stopped))
        cli(
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
            str(root / "comp"),
            "--format",
            "json",
        )
        cli("convert", "fc2conv", str(run), "--out", str(root / "conv"), "--format", "json")
        caffe = root / "caffe"
        caffe.mkdir()
        (caffe / "net.prototxt").write_text(CAFFE_NET)
        weights = {"conv1": [np.full((4, 3, 3, 3), 0.1, np.float32), np.zeros(4, np.float32)]}
        (caffe / "net.caffemodel").write_bytes(tiny_caffemodel(weights))
        cli(
            "convert",
            "caffe",
            str(caffe / "net.prototxt"),
            "--weights",
            str(caffe / "net.caffemodel"),
            "--out",
            str(root / "cfrun"),
            "--format",
            "json",
        )
    images = root / "img"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / "ok.png")
    idx = root / "idx"
    idx.mkdir()
    test = load_fashion_mnist("test", FASHION_MNIST_DIR)
    write_idx(test.images[:64, 0].numpy(), idx / "train-images-idx3-ubyte")
    write_idx(test.labels[:64].numpy().astype(np.uint8), idx / "train-labels-idx1-ubyte")
    write_idx(test.images[:100, 0].numpy(), idx / "t10k-images-idx3-ubyte")
    write_idx(test.labels[:100].numpy().astype(np.uint8), idx / "t10k-labels-idx1-ubyte")
    return {
        "run": run,
        "stopped": stopped,
        "comp": root / "comp",
        "conv": root / "conv",
        "cfrun": root / "cfrun",
        "caffe": caffe,
        "img": images,
        "idx": idx,
        "root": root,
    }


# --- the cases -------------------------------------------------------------------------------------


def bad_values(value) -> list[tuple[str, object]]:
    """(label, replacement) for a field now holding `value`: values no field of that kind may take."""
    if isinstance(value, bool):
        return [("text", "yes"), ("int", 1), ("null", None)]
    if isinstance(value, int):
        return [
            ("negative", -1),
            ("huge", 2**70),
            ("fraction", value + 0.5),
            ("text", str(value)),
            ("bool", True),
            ("null", None),
            ("list", [value]),
        ]
    if isinstance(value, float):
        return [
            ("negative", -value or -1.0),
            ("huge", 1e300),
            ("text", str(value)),
            ("bool", True),
            ("null", None),
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
        ]
    if isinstance(value, str):
        return [
            ("empty", ""),
            ("unknown", "no-such-" + value[:20]),
            ("int", 5),
            ("null", None),
            ("long", "x" * 20_000_000),
        ]
    if isinstance(value, list):
        return [("empty", []), ("dict", {}), ("text", "x"), ("null", None)]
    if isinstance(value, dict):
        return [("list", []), ("text", "x"), ("null", None)]
    return [("int", 5), ("text", "x"), ("list", []), ("dict", {})]  # a null field


def leaves(record, path=(), sample_lists=True):
    """Every field path of a parsed record (lists: their first item stands for the rest)."""
    yield path
    if isinstance(record, dict):
        for key, value in record.items():
            yield from leaves(value, (*path, key))
    elif isinstance(record, list) and record:
        yield from leaves(record[0], (*path, 0))


def set_field(record, path, value):
    record = copy.deepcopy(record)
    target = record
    for key in path[:-1]:
        target = target[key]
    if value is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return record


def record_text(record) -> str:
    """JSON text, with the strings "NaN"/"Infinity" written as the bare constants JSON forbids."""
    text = json.dumps(record)
    return text.replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")


RECORDS = {  # folder, file, commands that read it ({dir} the damaged copy)
    "config": ("run", "config.json", ["profile {dir}", "eval {dir}", "predict {dir} --image {ok}"]),
    "factorized": ("comp", "factorized.json", ["profile {dir}", "eval {dir}", "predict {dir} --image {ok}"]),
    "fc2conv": ("conv", "fc2conv.json", ["profile {dir}", "eval {dir}", "predict {dir} --image {ok}"]),
    "caffe": ("cfrun", "caffe.json", ["profile {dir}", "export {dir} --onnx {cwd}/x.onnx"]),
}
# a record's nested train_config is config.json's "config", checked by the same code: a few fields stand
# for it there
NESTED_SAMPLE = {"model", "model_overrides", "std", "mean", "epochs", "data", "test_size", "tta_flip"}


def record_cases(world: dict[str, Path], records: dict | None = None) -> list[dict]:
    cases = []
    for kind, (folder, file, commands) in (RECORDS if records is None else records).items():
        record = json.loads((world[folder] / file).read_text())
        for path in leaves(record):
            if "train_config" in path[:-1] and path[-1] not in NESTED_SAMPLE:
                continue
            if "config" in path[:-1] and kind == "config" and len(path) > 2:
                continue  # inside model_overrides: the builder's options, checked by the builder
            mutations = [("extra-field", None)] if isinstance(_get(record, path), dict) else []
            if path:
                mutations += [("missing", MISSING), *bad_values(_get(record, path))]
            for label, value in mutations:
                if label == "extra-field":
                    target = _get(record, path)
                    changed = (
                        set_field(record, (*path, "zz_unknown"), 1) if path else {**target, "zz_unknown": 1}
                    )
                else:
                    changed = set_field(record, path, value)
                name = ".".join(map(str, path)) or "(top)"
                cases.append(
                    {
                        "id": f"{kind}:{name}:{label}",
                        "folder": folder,
                        "file": file,
                        "text": record_text(changed),
                        "commands": commands,
                    }
                )
        for label, text in [
            ("truncated", record_text(record)[:-5]),
            ("empty", ""),
            ("deep", "[" * 5000 + "]" * 5000),
            ("not-utf8", "\udcff"),
            ("version-99", record_text({**record, "schema_version": 99})),
        ]:
            cases.append(
                {
                    "id": f"{kind}:(file):{label}",
                    "folder": folder,
                    "file": file,
                    "text": text,
                    "commands": commands,
                }
            )
    return cases


def _get(record, path):
    for key in path:
        record = record[key]
    return record


def checkpoint_cases(world: dict[str, Path]) -> list[dict]:
    """The resume checkpoint's metadata ("onebyone": the epoch, step, history, optimizer, config)."""
    from safetensors import safe_open

    with safe_open(str(world["stopped"] / "checkpoint.safetensors"), framework="pt") as handle:
        info = json.loads(handle.metadata()["onebyone"])
    resume = ["train nin-fashion --out {dir} --resume --no-progress --format json"]
    cases = []
    for path in leaves(info):
        if path[:1] == ("config",) and len(path) > 1 and path[1] not in NESTED_SAMPLE:
            continue
        if path[:1] == ("history",) and len(path) > 2 and path[2] not in ("epoch", "step", "val_accuracy"):
            continue
        if not path:
            continue
        for label, value in [("missing", MISSING), *bad_values(_get(info, path))]:
            cases.append(
                {
                    "id": f"checkpoint:{'.'.join(map(str, path))}:{label}",
                    "folder": "stopped",
                    "checkpoint_info": record_text(set_field(info, path, value)),
                    "commands": resume,
                }
            )
    for label, change in [
        ("epoch-past-end", {"epoch": 5}),
        ("epoch-0", {"epoch": 0}),
        ("step-other", {"step": info["step"] + 3}),
        ("history-short", {"history": []}),
    ]:
        cases.append(
            {
                "id": f"checkpoint:{label}",
                "folder": "stopped",
                "commands": resume,
                "checkpoint_info": record_text({**info, **change}),
            }
        )
    return cases


def lock_cases() -> list[dict]:
    """The run lock file, read to name its owner while another process holds it (`held`) or not."""
    resume = ["train nin-fashion --out {dir} --resume --no-progress --format json"]
    contents = {
        "pid-huge": json.dumps({"pid": 10**30, "host": "h", "since": "s"}),
        "pid-inf": '{"pid": 1e400, "host": "h", "since": "s"}',
        "pid-negative": json.dumps({"pid": -5, "host": "h", "since": "s"}),
        "pid-text": json.dumps({"pid": "abc", "host": "h", "since": "s"}),
        "pid-bool": json.dumps({"pid": True, "host": "h", "since": "s"}),
        "deep": "[" * 100_000 + "]" * 100_000,
        "garbage": "\x00\xff not json",
        "list": "[1, 2]",
        "host-long": json.dumps({"pid": 1, "host": "h" * 1_000_000, "since": "s"}),
    }
    cases = []
    for held in (False, True):
        for label, text in contents.items():
            cases.append(
                {
                    "id": f"lock:{'held' if held else 'free'}:{label}",
                    "folder": "stopped",
                    "file": ".lock",
                    "text": text,
                    "hold_lock": held,
                    "commands": resume,
                }
            )
    return cases


def weight_cases() -> list[dict]:
    readers = ["profile {dir}", "eval {dir}", "predict {dir} --image {ok}"]
    cases = []
    for folder in ("run", "comp", "conv", "cfrun"):
        for label in ("empty", "truncated", "header-huge", "header-garbage", "tensor-missing", "shape"):
            cases.append(
                {
                    "id": f"weights:{folder}:{label}",
                    "folder": folder,
                    "weights": label,
                    "commands": readers if folder != "cfrun" else readers[:1],
                }
            )
    return cases


def damage_weights(path: Path, how: str) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    raw = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "header-huge":
        path.write_bytes(struct.pack("<Q", 2**62) + raw[8:])
    elif how == "header-garbage":
        (size,) = struct.unpack("<Q", raw[:8])
        path.write_bytes(raw[:8] + b"{" * size + raw[8 + size :])
    else:
        state = load_file(str(path))
        name = next(n for n, t in state.items() if t.ndim > 1)
        if how == "tensor-missing":
            del state[name]
        else:
            state[name] = torch.zeros(state[name].shape[0] + 1, *state[name].shape[1:])
        save_file(state, str(path))


def image_cases(world: dict[str, Path]) -> list[dict]:
    """Photos given with --image: damaged files, and modes a photo may come in."""
    folder = world["root"] / "photos"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    ok = (world["img"] / "ok.png").read_bytes()
    files = {
        "empty.png": b"",
        "truncated.png": ok[: len(ok) // 2],
        "header-only.png": ok[:33],
        "text.png": b"hello, not an image\n",
        "jpeg-truncated.jpg": _encoded(Image.fromarray(pixels), "JPEG")[:200],
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    # modes: each beside its 8-bit twin, so a silently wrong conversion shows as different pixels
    Image.fromarray(pixels.astype(np.uint16) * 257).save(folder / "grey16.png")  # I;16, same picture
    Image.fromarray(pixels).save(folder / "grey16.twin.png")
    Image.fromarray(pixels.astype(np.int32) * 257, mode="I").save(folder / "int32.tif")
    Image.fromarray(pixels).save(folder / "int32.twin.png")
    Image.fromarray(pixels.astype(np.float32) / 255, mode="F").save(folder / "float.tif")
    Image.fromarray(pixels).save(folder / "float.twin.png")
    rgb = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    rgb.convert("CMYK").save(folder / "cmyk.jpg", quality=100)
    rgb.convert("CMYK").convert("RGB").save(folder / "cmyk.twin.png")
    rgb.quantize(16).save(folder / "palette.png")
    rgb.quantize(16).convert("RGB").save(folder / "palette.twin.png")
    Image.fromarray(pixels > 128).save(folder / "bilevel.png")
    Image.fromarray(pixels > 128).convert("L").save(folder / "bilevel.twin.png")
    readers = [
        "predict {run} --image {photo}",
        "inspect feature-maps {run} --image {photo} --out {cwd}/c.png",
    ]
    cases = []
    for path in sorted(folder.iterdir()):
        if ".twin." in path.name:
            continue
        twin = folder / f"{path.stem}.twin.png"
        cases.append(
            {
                "id": f"image:{path.name}",
                "photo": path,
                "twin": twin if twin.exists() else None,
                "commands": readers,
            }
        )
    return cases


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def idx_cases(world: dict[str, Path]) -> list[dict]:
    """Fashion-MNIST IDX files read by eval --data-dir."""
    test_images = (world["idx"] / "t10k-images-idx3-ubyte").read_bytes()
    test_labels = (world["idx"] / "t10k-labels-idx1-ubyte").read_bytes()
    header = struct.pack(">HBB", 0, 8, 3)
    damage = {
        "images:empty": ("t10k-images-idx3-ubyte", b""),
        "images:magic": ("t10k-images-idx3-ubyte", b"\x01\x02" + test_images[2:]),
        "images:type": ("t10k-images-idx3-ubyte", test_images[:2] + b"\x0d" + test_images[3:]),
        "images:truncated": ("t10k-images-idx3-ubyte", test_images[:-10]),
        "images:extra": ("t10k-images-idx3-ubyte", test_images + b"\0" * 10),
        "images:count-zero": ("t10k-images-idx3-ubyte", header + struct.pack(">III", 0, 28, 28)),
        "images:ndim": ("t10k-images-idx3-ubyte", struct.pack(">HBB", 0, 8, 2) + test_images[4:]),
        "images:gzip-corrupt": ("t10k-images-idx3-ubyte.gz", b"\x1f\x8b" + b"\0" * 50),
        "images:gzip-bomb": ("t10k-images-idx3-ubyte.gz", _gzip_bomb(test_images[:16], 200 * 2**20)),
        "labels:out-of-range": ("t10k-labels-idx1-ubyte", test_labels[:-1] + b"\x0a"),
        "labels:255": ("t10k-labels-idx1-ubyte", test_labels[:-1] + b"\xff"),
        "labels:count": ("t10k-labels-idx1-ubyte", struct.pack(">HBBI", 0, 8, 1, 99) + test_labels[8:-1]),
        "labels:int32": ("t10k-labels-idx1-ubyte", struct.pack(">HBBI", 0, 0x0C, 1, 100) + bytes(400)),
    }
    return [
        {
            "id": f"idx:{label}",
            "idx_file": name,
            "idx_bytes": data,
            "commands": ["eval {run} --data-dir {idxdir}"],
        }
        for label, (name, data) in damage.items()
    ]


def _gzip_bomb(header: bytes, size: int) -> bytes:
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = bytes(2**20)
    parts = [packer.compress(header)] + [packer.compress(chunk) for _ in range(size // 2**20)]
    return b"".join(parts) + packer.flush()


def folder_data_cases(world: dict[str, Path]) -> list[dict]:
    """An image-folder run (two classes of 16×16 photos) and its folder changed or damaged since."""
    photos, run = world["root"] / "folder-data", world["root"] / "folder-run"
    if not run.is_dir():
        rng = np.random.default_rng(2)
        for label in ("a", "b"):
            (photos / label).mkdir(parents=True)
            for index in range(6):
                pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(photos / label / f"{index}.png")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            options = ["--set", "width=0.25", "--epochs", "1", "--val-size", "0", "--image-size", "16"]
            options += ["--batch-size", "8", "--no-progress", "--out", str(run)]
            cli("train", "nin-fashion", "--data", f"folder:{photos}", *options)
    damages = (
        "class-added",
        "class-removed",
        "class-emptied",
        "class-renamed",
        "file-added",
        "file-removed",
        "file-resized",
        "all-unreadable",
        "one-unreadable",
        "text-as-png",
    )
    changed = [
        {"id": f"folder-data:{label}", "photos": label, "commands": ["eval {dir}"]} for label in damages
    ]
    world["frun"] = run  # its data.json: what the folder held (classes, images, digest)
    commands = ["profile {dir}", "eval {dir}", "predict {dir} --image {ok}"]
    return changed + record_cases(world, {"data": ("frun", "data.json", commands)})


def damage_photos(folder: Path, how: str) -> None:
    if how == "class-added":
        shutil.copytree(folder / "a", folder / "c")
    elif how == "class-removed":
        shutil.rmtree(folder / "b")
    elif how == "class-emptied":
        for path in (folder / "b").iterdir():
            path.unlink()
    elif how == "class-renamed":
        (folder / "b").rename(folder / "c")
    elif how == "file-added":
        shutil.copy(folder / "a" / "0.png", folder / "a" / "new.png")
    elif how == "file-removed":
        (folder / "b" / "0.png").unlink()
    elif how == "file-resized":  # as many files, one of another size
        Image.new("RGB", (20, 20), (9, 9, 9)).save(folder / "a" / "0.png")
    elif how in ("all-unreadable", "one-unreadable", "text-as-png"):
        paths = sorted(folder.rglob("*.png"))
        for path in paths if how == "all-unreadable" else paths[:1]:
            path.write_bytes(b"not a photo" if how == "text-as-png" else path.read_bytes()[:40])


def caffe_cases(world: dict[str, Path]) -> list[dict]:
    """The prototxt and caffemodel `profile` and `convert caffe` read."""
    from tests.caffemodel_writer import tiny_caffemodel

    edits = {
        "num_output-0": ("num_output: 4", "num_output: 0"),
        "num_output-negative": ("num_output: 4", "num_output: -4"),
        "num_output-huge": ("num_output: 4", "num_output: 1000000000"),
        "num_output-fraction": ("num_output: 4", "num_output: 4.5"),
        "num_output-text": ("num_output: 4", 'num_output: "four"'),
        "num_output-twice": ("num_output: 4", "num_output: 4 num_output: 5"),
        "kernel-0": ("kernel_size: 3", "kernel_size: 0"),
        "kernel-huge": ("kernel_size: 3", "kernel_size: 100000"),
        "stride-0": ("stride: 1", "stride: 0"),
        "pad-negative": ("pad: 0", "pad: -1"),
        "pad-huge": ("pad: 0", "pad: 1000000"),
        "input_dim-0": ("input_dim: 8 input_dim: 8", "input_dim: 0 input_dim: 8"),
        "input_dim-negative": ("input_dim: 8 input_dim: 8", "input_dim: -8 input_dim: 8"),
        "input_dim-huge": ("input_dim: 8 input_dim: 8", "input_dim: 100000000 input_dim: 100000000"),
        "pool-unknown": ("pool: AVE", "pool: NOPE"),
        "global_pooling-text": ("global_pooling: true", "global_pooling: maybe"),
        "bottom-unknown": ('bottom: "conv1" top: "gap"', 'bottom: "nope" top: "gap"'),
        "deep": ('layer { name: "relu1"', "x { " * 10000 + "}" * 10000 + ' layer { name: "relu1"'),
        "not-utf8": ("conv1", "conv\udcff"),
    }
    base = CAFFE_NET
    folder = world["root"] / "caffe-bad"
    folder.mkdir(exist_ok=True)
    cases = []
    for label, (old, new) in edits.items():
        path = folder / f"{label}.prototxt"
        path.write_bytes(base.replace(old, new, 1).encode("utf-8", "surrogateescape"))
        cases.append(
            {
                "id": f"prototxt:{label}",
                "commands": [f"profile {path}", f"convert caffe {path} --out {{cwd}}/out"],
            }
        )
    good = np.full((4, 3, 3, 3), 0.1, np.float32)
    blobs = {
        "nan": [
            np.where(np.arange(good.size).reshape(good.shape) == 0, np.nan, good).astype(np.float32),
            np.zeros(4, np.float32),
        ],
        "inf": [good, np.array([np.inf, 0, 0, 0], np.float32)],
        "bias-short": [good, np.zeros(3, np.float32)],
        "one-blob": [good],
    }
    for label, arrays in blobs.items():
        path = folder / f"{label}.caffemodel"
        path.write_bytes(tiny_caffemodel({"conv1": arrays}))
        cases.append(
            {
                "id": f"caffemodel:{label}",
                "commands": [
                    f"convert caffe {world['caffe'] / 'net.prototxt'} --weights {path} --out {{cwd}}/out"
                ],
            }
        )
    for label, data in {
        "empty": b"",
        "garbage": b"\xff" * 64,
        "varint-huge": b"\x0a\xff\xff\xff\xff\xff\xff\xff\x7f",
    }.items():
        path = folder / f"{label}.caffemodel"
        path.write_bytes(data)
        cases.append(
            {
                "id": f"caffemodel:{label}",
                "commands": [
                    f"convert caffe {world['caffe'] / 'net.prototxt'} --weights {path} --out {{cwd}}/out"
                ],
            }
        )
    return cases


def user_code_cases(world: dict[str, Path]) -> list[dict]:
    folder = world["root"] / "code"
    folder.mkdir(exist_ok=True)
    sources = {
        "syntax": "def build(:\n",
        "empty": "",
        "binary": "\udcff\udcfe\x00",
        "returns-int": "def build():\n    return 5\n",
        "recursion": "def build():\n    return build()\n",
        "import-loop": "import sys\nsys.setrecursionlimit(10**6)\n" + "x = " + "(" * 200 + ")" * 200 + "\n",
    }
    cases = []
    for label, text in sources.items():
        path = folder / f"{label.replace('-', '_')}.py"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        cases.append({"id": f"code:{label}", "commands": [f"profile {path}:build --input 3x8x8"]})
    return cases
