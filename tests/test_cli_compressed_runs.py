"""A folder written by `onebyone compress` works wherever a training run does: open_run, eval,
profile, bench, export, inspect; and the commands that cannot take one say so in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from onebyone.cli import main
from onebyone.models import create_model
from onebyone.runs import open_run
from onebyone.surgery import rebuild_structure
from onebyone.train import TrainConfig, train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny real Fashion-MNIST run and its compressed copy (no fine-tuning)."""
    root = tmp_path_factory.mktemp("compressed")
    run = root / "run"
    config = TrainConfig(
        model="nin-fashion",
        model_overrides={"width": 0.25},
        epochs=1,
        subset=256,
        val_size=64,
        test_size=200,
        batch_size=64,
        out=str(run),
        progress=False,
        precision="fp32",
    )
    train(config)
    out = root / "run-0.5"
    code = main(
        [
            "compress",
            str(run),
            "--budget",
            "0.5",
            "--finetune-epochs",
            "0",
            "--out",
            str(out),
            "--batch",
            "1",
            "--repeats",
            "1",
            "--format",
            "json",
        ]
    )
    assert code == 0
    return run, out


def cli(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "onebyone", *argv], capture_output=True, text=True, cwd=cwd)


def test_open_run_reads_a_compressed_run_with_its_source_config(runs):
    from safetensors.torch import load_file

    run, out = runs
    compressed = open_run(out)
    model, config = compressed.model(), compressed.config
    assert compressed.kind == "compressed" and open_run(run).kind == "training"
    assert config == open_run(run).config
    structure = json.loads((out / "factorized.json").read_text())
    by_hand = rebuild_structure(
        create_model("nin-fashion", **structure["base"]["model_overrides"]), structure["structure"]
    )
    by_hand.load_state_dict(load_file(str(out / "model.safetensors")))
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(model(x), by_hand.eval()(x), rtol=0, atol=0)
    report = json.loads((out / "compress.json").read_text())
    assert sum(p.numel() for p in model.parameters()) == report["params_after"] < report["params_before"]


def test_eval_of_a_compressed_run_matches_the_accuracy_compress_measured(runs, capsys):
    _, out = runs
    assert main(["eval", str(out), "--format", "json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    report = json.loads((out / "compress.json").read_text())
    assert evaluated["accuracy"] == pytest.approx(report["accuracy_after"], abs=1e-6)
    assert (out / "confusion.png").is_file()


def test_profile_counts_the_factorised_layout(runs, capsys):
    run, out = runs
    assert main(["profile", str(out), "--format", "json"]) == 0
    profiled = json.loads(capsys.readouterr().out)
    report = json.loads((out / "compress.json").read_text())
    assert profiled["input_shapes"] == [[1, 1, 28, 28]]
    assert profiled["totals"]["params"] == report["params_after"]
    assert profiled["totals"]["macs"] == report["report"]["totals"]["macs_after"]
    assert main(["profile", str(run), "--input-shape", "2,1,56,56", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_shapes"] == [[2, 1, 56, 56]]


def test_bench_export_and_inspect_take_a_compressed_run(runs, tmp_path, capsys):
    _, out = runs
    assert main(["bench", str(out), "--batch", "2", "--repeats", "1", "--format", "json"]) == 0
    capsys.readouterr()
    onnx = tmp_path / "c.onnx"
    assert main(["export", str(out), "--onnx", str(onnx)]) == 0
    assert onnx.stat().st_size > 0
    png = tmp_path / "cam.png"
    assert main(["inspect", "cam", str(out), "--index", "2", "--out", str(png), "--format", "json"]) == 0
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["compress", "{out}", "--budget", "0.5"], "is already a compressed run"),
        (["convert", "fc2conv", "{out}", "--out", "{tmp}/fc"], "is a compressed run"),
        (["profile", "{out}", "--set", "width=1"], "a training run's model is fixed"),
        (["profile", "{out}", "--input", "1x28x28", "--input-shape", "1,1,28,28"], "not both"),
    ],
)
def test_commands_that_cannot_take_a_compressed_run_say_so(runs, tmp_path, argv, message):
    _, out = runs
    proc = cli(*[a.format(out=out, tmp=tmp_path) for a in argv])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "fc").exists()


def _copy(out, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("factorized.json", "compress.json", "model.safetensors"):
        (copy / name).write_bytes((out / name).read_bytes())
    return copy


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: (d / "factorized.json").write_text("{not json"), "unreadable compressed-run"),
        (lambda d: (d / "factorized.json").write_text('{"base": {}}'), "unreadable compressed-run"),
        (lambda d: (d / "model.safetensors").unlink(), "has no model.safetensors"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 7), "unreadable safetensors file"),
        (
            lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-50]),
            "unreadable safetensors file",
        ),
    ],
)
def test_a_damaged_compressed_run_is_one_line_exit_2(runs, tmp_path, damage, message):
    _, out = runs
    copy = _copy(out, tmp_path)
    damage(copy)
    proc = cli("eval", str(copy))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_weights_of_another_layout_are_refused(runs, tmp_path):
    run, out = runs
    copy = _copy(out, tmp_path)
    (copy / "model.safetensors").write_bytes((run / "model.safetensors").read_bytes())
    proc = cli("eval", str(copy))
    assert proc.returncode == 2 and "weights do not fit the factorised model" in proc.stderr


def test_a_run_compressed_from_a_bare_model_has_no_data_to_evaluate(tmp_path):
    out = tmp_path / "bare"
    assert (
        main(
            [
                "compress",
                "nin-fashion",
                "--set",
                "width=0.25",
                "--budget",
                "0.5",
                "--out",
                str(out),
                "--batch",
                "1",
                "--repeats",
                "1",
                "--finetune-epochs",
                "0",
                "--format",
                "json",
            ]
        )
        == 0
    )
    proc = cli("eval", str(out))
    assert proc.returncode == 2 and "compressed from a bare model spec" in proc.stderr
