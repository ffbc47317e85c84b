"""`onebyone compress`: a small end-to-end run and its error paths (exit 2, one line, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from onebyone.cli import main
from onebyone.surgery.runs import load_compressed


def test_compress_model_spec_writes_a_rebuildable_run(tmp_path, capsys):
    out = tmp_path / "small"
    code = main([
        "compress", "nin-fashion", "--set", "width=0.25", "--budget", "0.5", "--out", str(out),
        "--batch", "2", "--repeats", "1", "--finetune-epochs", "0", "--format", "json",
    ])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    totals = result["report"]["totals"]
    assert totals["macs_after"] <= 0.5 * totals["macs_before"]
    assert result["latency"][0]["batch"] == 2
    model = load_compressed(out)
    reference = json.loads((out / "compress.json").read_text())
    assert reference["params_after"] == sum(p.numel() for p in model.parameters())
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)


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
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "o").exists()
