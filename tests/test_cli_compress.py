"""`onebyone compress`: a small end-to-end run and its error paths (exit 2, one line, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from onebyone.cli import main
from onebyone.runs import open_run


def test_compress_model_spec_writes_a_rebuildable_run(tmp_path, capsys):
    out = tmp_path / "small"
    code = main(
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
            "2",
            "--repeats",
            "1",
            "--finetune-epochs",
            "0",
            "--format",
            "json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    totals = result["report"]["totals"]
    assert totals["macs_after"] <= 0.5 * totals["macs_before"]
    assert result["latency"][0]["batch"] == 2
    model = open_run(out).model()
    reference = json.loads((out / "compress.json").read_text())
    assert reference["params_after"] == sum(p.numel() for p in model.parameters())
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_frozen_latency_is_measured_and_labelled(tmp_path, capsys):
    out = tmp_path / "frozen"
    argv = ["compress", "nin-fashion", "--set", "width=0.25", "--budget", "0.5", "--out", str(out)]
    assert main([*argv, "--batch", "3", "--repeats", "1", "--finetune-epochs", "0", "--frozen"]) == 0
    printed = capsys.readouterr().out
    assert "frozen TorchScript" in printed
    result = json.loads((out / "compress.json").read_text())
    assert result["frozen"] is True and result["latency"][0]["before_ms"] > 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["nin-fashion", "--budget", "0"], "--budget must be in (0, 1]"),
        (["nin-fashion", "--budget", "1.01"], "--budget must be in (0, 1]"),
        (["nin-fashion", "--budget", "-3"], "--budget must be in (0, 1]"),
        (["nin-fashion", "--budget", "0.5", "--target", "flops"], "unknown --target 'flops'"),
        (["runs/does-not-exist", "--budget", "0.5"], "run folder 'runs/does-not-exist' not found"),
        (["nin-fashion", "--budget", "abc"], "invalid float value"),
    ],
)
def test_error_paths_are_one_line_exit_2(argv, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "onebyone", "compress", *argv, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow  # trains a tiny run and evaluates on the 10,000 test images three times
def test_compress_a_training_run_measures_accuracy_and_fine_tunes(tmp_path, capsys):
    from onebyone import train as train_api

    run = tmp_path / "run"
    config = train_api.TrainConfig(
        model="nin-fashion",
        model_overrides={"width": 0.25},
        epochs=1,
        subset=256,
        val_size=64,
        batch_size=64,
        out=str(run),
        progress=False,
        precision="fp32",
    )
    train_api.train(config)
    out = tmp_path / "run-small"
    code = main(
        [
            "compress",
            str(run),
            "--budget",
            "0.5",
            "--finetune-epochs",
            "1",
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
    result = json.loads(capsys.readouterr().out)
    for key in ("accuracy_before", "accuracy_after", "accuracy_finetuned"):
        assert 0.0 <= result[key] <= 1.0
    assert result["finetune_epochs"] == 1
    model = open_run(out).model()
    trained = open_run(run).model()
    assert sum(p.numel() for p in model.parameters()) == result["params_after"]
    assert sum(p.numel() for p in trained.parameters()) == result["params_before"]
    structure = json.loads((out / "factorized.json").read_text())
    assert structure["train_config"]["model"] == "nin-fashion"
    assert structure["base"]["model_overrides"]["width"] == 0.25
