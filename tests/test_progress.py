"""onebyone.progress: on a pipe (or with --no-progress) one line per stage on stderr, never stdout;
train's lines carry an estimate for the whole run; bench reports the spread of its repeats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from PIL import Image

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_DIR
from onebyone.progress import DELAY_VARIABLE, Progress
from onebyone.timing import quartiles
from tests.helpers import needs_lite0_weights

needs_fashion = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)
TRAIN = ["train", "nin-fashion", "--subset", "128", "--val-size", "32", "--test-size", "64"]
TRAIN += ["--batch-size", "32", "--set", "width=0.25"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("progress") / "run"
    assert main([*TRAIN, "--epochs", "1", "--out", str(out), "--format", "json"]) == 0
    return out


def test_a_stage_line_waits_for_its_delay(monkeypatch, capsys):
    monkeypatch.setenv(DELAY_VARIABLE, "30")
    with Progress("x", live=False) as progress:
        progress.stage("quick")  # over long before 30 s: never written
        progress.stage("also quick")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(DELAY_VARIABLE, "0.05")
    with Progress("x", live=False) as progress:
        progress.stage("slow")
        time.sleep(1.0)
    assert capsys.readouterr().err.startswith("onebyone x: slow [0:00]")


@needs_fashion
def test_eval_on_a_pipe_writes_stage_lines_to_stderr_only(run):
    env = {**os.environ, DELAY_VARIABLE: "0"}
    for extra in ([], ["--no-progress"]):
        proc = subprocess.run(
            [sys.executable, "-m", "onebyone", "eval", str(run), "--format", "json", *extra],
            capture_output=True,
            text=True,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["images"] == 64  # stdout: the result alone
        lines = proc.stderr.splitlines()
        assert any(line.startswith("onebyone eval: predicting 64 test images") for line in lines), lines
        assert all(line.startswith("onebyone eval: ") for line in lines), lines


@needs_fashion
def test_compress_names_each_stage(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(DELAY_VARIABLE, "0")
    argv = ["compress", str(run), "--budget", "0.5", "--out", str(tmp_path / "c"), "--batch", "2"]
    assert main([*argv, "--repeats", "1", "--finetune-epochs", "1", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["finetune_epochs"] == 1
    stages = [line.split(": ", 1)[1].rsplit(" [", 1)[0] for line in captured.err.splitlines()]
    assert stages == [
        "factorising",
        "latency at batch 2",
        "accuracy before",
        "accuracy after",
        "fine-tuning 1 epoch(s)",
        f"writing {tmp_path / 'c'}",
    ]


@needs_fashion
def test_train_lines_estimate_the_whole_run(tmp_path, capsys):
    argv = [*TRAIN, "--epochs", "2", "--no-progress", "--out", str(tmp_path / "r"), "--format", "json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["epochs"] == 2
    lines = captured.err.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("whole run: about" in line and line.endswith("]") for line in lines)
    assert "whole run: about 0:00 left" in lines[-1]


def test_quartiles_are_the_inclusive_ones():
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)
    assert quartiles([3.0]) == (3.0, 3.0)
    assert quartiles([4.0, 1.0, 3.0, 2.0]) == (1.75, 3.25)


def test_bench_reports_the_interquartile_range(capsys, monkeypatch):
    monkeypatch.setenv(DELAY_VARIABLE, "0")
    argv = ["bench", "nin-fashion", "--set", "width=0.25", "--batch", "2", "--repeats", "5"]
    assert main([*argv, "--dtype", "float32", "--format", "json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    for row in result["latency"]:
        assert row["q1_ms"] <= row["median_ms"] <= row["q3_ms"]
        assert row["iqr_ms"] == pytest.approx(row["q3_ms"] - row["q1_ms"], abs=1e-12)
    assert "onebyone bench: eager fp32 NCHW, batch 2" in captured.err
    assert main([*argv, "--dtype", "float32"]) == 0
    table = capsys.readouterr().out
    assert "IQR ms" in table and "median" in table


# command line -> its stages, in order (DELAY_VARIABLE 0: every line written at once). Opening the
# model comes before the first stage, so a bad flag is refused before any begins.
STAGED = {
    "profile": (
        ["profile", "nin-fashion", "--train", "--fits", "1GiB"],
        [
            "tracing the layers",
            "predicting the peak memory of a training step",
            "finding the largest batch that fits 1GiB",
        ],
    ),
    "compare": (
        ["compare", "nin-fashion", "nin-fashion width=0.5"],
        ["profiling nin-fashion (1 of 2)", "profiling nin-fashion width=0.5 (2 of 2)"],
    ),
    "optimize": (
        ["optimize", "nin-fashion"],
        ["folding batch norm and merging branches"],
    ),
    "export": (
        ["export", "nin-fashion", "--onnx", "{tmp}/m.onnx"],
        ["exporting to ONNX and checking it (re-parameterised)"],
    ),
    "predict": (
        ["predict", "efficientnet-lite0", "--image", "{photo}"],
        ["classifying {photo}"],
    ),
    "convert fc2conv": (
        ["convert", "fc2conv", "nin-fashion", "--set", "head=fc", "--out", "{tmp}/c"],
        [
            "converting the linear layers and comparing the outputs",
            "running the converted model on 1×56×56",
            "writing {tmp}/c",
        ],
    ),
}


@pytest.mark.parametrize(
    "command", [pytest.param(c, marks=needs_lite0_weights) if c == "predict" else c for c in STAGED]
)
def test_each_stage_is_a_line_on_stderr_and_stdout_stays_json(command, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(DELAY_VARIABLE, "0")
    argv, stages = STAGED[command]
    photo = tmp_path / "photo.png"
    Image.new("RGB", (256, 192), (200, 30, 30)).save(photo)
    values = {"tmp": tmp_path, "photo": photo}
    assert main([*(a.format(**values) for a in argv), "--format", "json"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # the result alone
    lines = captured.err.splitlines()
    assert all(line.startswith(f"onebyone {command}: ") for line in lines), lines
    assert [line.split(": ", 1)[1].rsplit(" [", 1)[0] for line in lines] == [
        s.format(**values) for s in stages
    ]
