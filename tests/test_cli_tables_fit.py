"""Every command that prints a table, at 80 and 120 columns (COLUMNS, as a pipe or terminal gives it):
nothing inside a cell is cut to "…", no line is wider than the console, and what matters is there."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_DIR

pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)
WIDTHS = [80, 120]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A quarter-width nin-fashion trained one epoch on 256 real images; test set of 200."""
    out = tmp_path_factory.mktemp("tables") / "run"
    args = ["train", "nin-fashion", "--subset", "256", "--val-size", "64", "--test-size", "200"]
    args += ["--epochs", "1", "--batch-size", "32", "--set", "width=0.25", "--out", str(out)]
    assert main([*args, "--format", "json"]) == 0
    return out


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    return path


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "bare.py"
    path.write_text(
        "import torch.nn as nn\n\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), "
        "nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 128, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), "
        "nn.Flatten(), nn.Linear(128, 10))\n"
    )
    return path


def printed(capsys, monkeypatch, width: int, argv: list[str]) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "…" not in out, out
    assert max(len(line) for line in out.splitlines()) <= width, out
    return out


def cells(text: str) -> set[str]:
    return {c.strip() for line in text.splitlines() for c in line.replace("┃", "│").split("│")}


COMMANDS = {
    "profile": ["profile", "nin-fashion"],
    "compare": ["compare", "nin-fashion", "nin-fashion width=0.5", "nin-fashion head=fc", "--layers"],
    "models": ["models"],
    "bench": ["bench", "{run}", "--batch", "2", "--repeats", "2", "--dtype", "float32"],
    "predict": ["predict", "{run}", "--image", "{photo}"],
    "convert": [
        "convert",
        "fc2conv",
        "nin-fashion",
        "--set",
        "head=fc",
        "--set",
        "width=0.25",
        "--out",
        "{tmp}/c",
    ],
    "feature-maps": ["inspect", "feature-maps", "{run}", "--out", "{tmp}/f.png"],
    "sparsity": ["inspect", "sparsity", "{run}", "--out", "{tmp}/s.png"],
    "cam": ["inspect", "cam", "{run}", "--out", "{tmp}/cam.png"],
    "box": ["inspect", "box", "{run}", "--out", "{tmp}/box.png"],
    "dense": ["inspect", "dense", "{run}", "--scenes", "10", "--out", "{tmp}/d.png"],
    "report": ["report", "--quick", "--only", "C1,C2", "--out", "{tmp}/report"],
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_table_fits_whole(command, width, run, photo, tmp_path, capsys, monkeypatch):
    values = {"run": str(run), "photo": str(photo), "tmp": str(tmp_path)}
    printed(capsys, monkeypatch, width, [a.format(**values) for a in COMMANDS[command]])


@pytest.mark.parametrize("width", WIDTHS)
def test_eval_shows_every_count_of_the_confusion_matrix(width, run, tmp_path, capsys, monkeypatch):
    out = printed(capsys, monkeypatch, width, ["eval", str(run), "--png", str(tmp_path / "c.png")])
    assert main(["eval", str(run), "--png", str(tmp_path / "c.png"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    shown = cells(out)
    for name, row, accuracy in zip(
        report["classes"], report["confusion_matrix"], report["per_class_accuracy"], strict=True
    ):
        assert {f"{count:,}" for count in row} <= shown and f"{accuracy:.1%}" in shown
        assert any(name in cell for cell in shown)


@pytest.mark.parametrize("width", WIDTHS)
def test_compress_names_its_layers_or_a_legend_does(width, run, tmp_path, capsys, monkeypatch):
    argv = ["compress", str(run), "--budget", "0.5", "--out", str(tmp_path / "c"), "--repeats", "1"]
    out = printed(capsys, monkeypatch, width, [*argv, "--finetune-epochs", "0", "--batch", "2"])
    result = json.loads((tmp_path / "c" / "compress.json").read_text())
    notes = " ".join(out.split("layer names shortened: ")[1:])  # the legend, however it wrapped
    legend = dict(re.findall(r"(\w+)\s+=\s+(\w+)", notes))
    names = [row["name"] for row in result["report"]["layers"]]
    shown = [c for c in cells(out) if c.split(".")[-1] in {n.split(".")[-1] for n in names} and "." in c]
    assert sorted(".".join(legend.get(p, p) for p in c.split(".")) for c in shown) == sorted(names)
    for row in result["latency"]:  # the speed in words, the right way round
        words = "faster" if row["speedup"] > 1 else "slower"
        assert f"× {words}" in out


def test_a_bare_sequential_keeps_its_type_column_at_80(sequential, capsys, monkeypatch):
    out = printed(capsys, monkeypatch, 80, ["profile", f"{sequential}:net", "--input", "3x32x32"])
    assert {"Conv2d", "BatchNorm2d", "Linear"} <= cells(out)


def test_train_summary_fits(tmp_path, capsys, monkeypatch):
    args = ["train", "nin-fashion", "--subset", "64", "--val-size", "0", "--test-size", "32", "--epochs", "1"]
    args += ["--set", "width=0.25", "--out", str(tmp_path / "t" / "a-rather-long-folder-name-for-the-run")]
    for width in WIDTHS:
        out = printed(capsys, monkeypatch, width, [*args, "--overwrite"])
        assert "test accuracy" in out


def test_compare_layers_names_every_layer_or_a_legend_does(capsys, monkeypatch):
    """GoogLeNet's paths (inceptions.inception3a.branch3x3_reduce.conv) are too long for 80 columns:
    they are shortened from the middle, never wrapped, and the legend spells them out again."""
    argv = ["compare", "googlenet", "googlenet naive=true", "--layers"]
    out = printed(capsys, monkeypatch, 80, argv)
    assert main([*argv, "--format", "json"]) == 0
    pairs = json.loads(capsys.readouterr().out)["layers"]["layers"]
    notes = " ".join(out.split("layer names shortened: ")[1:])
    legend = dict(re.findall(r"(\w+)\s+=\s+(\w+)", notes))
    assert legend  # the paths did not fit as they are
    rows = [line.split("│") for line in out.splitlines() if line.count("│") == 8]
    shown = [".".join(legend.get(p, p) for p in row[3].strip().split(".")) for row in rows]
    expected = [c["layer"] if c else "—" for pair in pairs for c in pair["layers"]]
    assert shown == expected
    assert "models: A = googlenet, B = googlenet naive=true" in out
