"""`onebyone profile` and `onebyone compare`: every format, user models, and every error path
(exit code 2, one line on stderr, no traceback)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import pytest

from onebyone.cli import main
from onebyone.memory import MemorySetup, estimate_memory
from onebyone.models import create_model

USER_MODELS = textwrap.dedent(
    """
    from torch import nn

    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    def good(width=4):
        return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.Conv2d(width, 2, 1))

    def bad():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), Boom()))

    def not_a_module():
        return 3
    """
)


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "user_nets.py"
    path.write_text(USER_MODELS)
    return str(path)


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_matches_library_and_spec(capsys):
    code, out, _ = run(["profile", "resnet18", "--format", "json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["schema_version"] == 1
    assert report["input_shapes"] == [[1, 3, 224, 224]]
    assert round(report["totals"]["macs"] / 1e9, 3) == 1.814  # SPEC: ResNet-18 1.814 GMACs
    assert report["totals"]["params"] == 11_689_512
    assert sum(r["macs"] for r in report["rows"]) == report["totals"]["macs"]


def test_csv_rows_sum_to_totals(capsys):
    code, out, _ = run(["profile", "nin-cifar", "--format", "csv", "--depth", "1"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sum(int(r["macs"]) for r in rows) == 222_486_528  # SPEC
    assert sum(int(r["params"]) for r in rows) == 966_986
    features = next(r for r in rows if r["path"] == "features")
    assert (features["rf_size_h"], features["rf_stride_h"]) == ("27", "4")


def test_markdown_and_table(capsys):
    code, out, _ = run(["profile", "nin-imagenet", "--format", "markdown", "--depth", "3"], capsys)
    assert code == 0
    assert out.startswith("| layer |") and "| **total** |" in out and "[1×1]" in out
    assert "195/32" in out  # conv4's field (SPEC)
    code, out, _ = run(["profile", "resnet50", "--depth", "1"], capsys)
    assert code == 0 and "total" in out and "4,089,184,256" in out and "uncounted ops: none" in out


def test_input_shape_and_user_model(capsys, user_file):
    argv = ["profile", f"{user_file}:good", "--set", "width=8", "--input-shape", "2,3,10,10"]
    code, out, _ = run([*argv, "--format", "json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["input_shapes"] == [[2, 3, 10, 10]]
    assert report["totals"]["macs"] == 2 * 64 * 8 * 27 + 2 * 64 * 2 * 8
    assert report["totals"]["pointwise_params"] == 8 * 2 + 2


def test_compare_variants(capsys):
    code, out, _ = run(["compare", "googlenet", "googlenet naive=true", "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["labels"] == ["googlenet", "googlenet naive=true"]
    params = next(m for m in data["metrics"] if m["key"] == "params")
    assert params["deltas"][0] == 0 and params["deltas"][1] == params["values"][1] - params["values"][0] > 0
    code, out, _ = run(["compare", "nin-cifar", "nin-cifar --set head=fc"], capsys)
    assert code == 0 and "Δ vs first" in out and "nin-cifar head=fc" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["profile", "resnet18", "--input", "1x64x64"], "expects 3 channels"),
        (["profile", "nin-imagenet", "--input", "3x32x32"], "too small: at features."),
        (["profile", "resnet5"], "unknown model 'resnet5'"),
        (["profile", "USER:bad", "--input", "3x8x8"], "ValueError at 1.1 (Boom) with input 1×4×6×6: boom"),
        (["profile", "USER:not_a_module", "--input", "3x8x8"], "not an nn.Module"),
        (["profile", "USER:good", "--set", "width=-1", "--input", "3x8x8"], "building"),
        (["profile", "USER:good"], "give the input size"),
        (["profile", "resnet18", "--input", "3x224"], "bad input shape '3x224'"),
        (["profile", "resnet18", "--input-shape", "1,a,3"], "bad input shape '1,a,3'"),
        (["profile", "resnet18", "--input", "3x8x8", "--input-shape", "1,3,8,8"], "not both"),
        (["profile", "resnet18", "--set", "nope=1"], "has no option 'nope'"),
        (["profile", "resnet18", "--depth", "-1"], "--depth"),
        (["compare", "resnet18"], "at least two"),
        (["compare", "resnet18", "resnet18 oops"], "bad variant"),
    ],
)
def test_errors_are_one_line_exit_2(argv, expected, capsys, user_file):
    argv = [a.replace("USER", user_file) for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert expected in lines[0]


def test_error_in_a_real_process_has_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "onebyone", "profile", "nin-imagenet", "--input", "3x20x20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_package_module_factory(capsys):
    code, out, _ = run(["profile", "torch.nn:ReLU", "--input", "3x8x8", "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["totals"]["other_flops"] == 3 * 8 * 8


@pytest.mark.parametrize("columns", ["80", "200"])
def test_piped_table_keeps_every_number_whole(columns):
    """`onebyone profile resnet50 | cat`: nothing cut to "…", every params and MACs cell whole."""
    from onebyone.models import create_model
    from onebyone.profiling import profile
    from onebyone.profiling.results import format_count

    env = {**__import__("os").environ, "COLUMNS": columns}
    proc = subprocess.run(
        [sys.executable, "-m", "onebyone", "profile", "resnet50"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= int(columns)
    result = profile(create_model("resnet50"), (1, 3, 224, 224))
    cells = {cell.strip() for line in proc.stdout.splitlines() for cell in line.split("│")}
    for row in result.grouped(2):
        assert f"{row.params:,}" in cells and format_count(row.macs) in cells, row.path
    if int(columns) < 120:
        assert "columns left out at width" in proc.stdout
    else:
        assert "columns left out" not in proc.stdout and "other FLOPs" in proc.stdout


def test_memory_in_json_table_and_fits(capsys):
    """--train --batch --optimizer --dtype: every part in bytes; --fits: the search's answer."""
    argv = ["profile", "nin-fashion", "--train", "--batch", "32", "--optimizer", "sgd-momentum",
            "--dtype", "bf16", "--channels-last", "--fits", "8MiB", "--format", "json"]  # fmt: skip
    code, out, _ = run(argv, capsys)
    assert code == 0
    memory = json.loads(out)["memory"]
    assert memory["input_shape"] == [32, 1, 28, 28] and memory["autocast"] == "bfloat16"
    training = memory["training"]
    parts = ("weights", "optimizer", "gradients", "saved", "transient")
    assert training["peak_bytes"] == sum(training[p] for p in parts)
    net = create_model("nin-fashion")
    tensors = [*net.parameters(), *net.buffers()]
    assert training["weights"] == sum(t.numel() * t.element_size() for t in tensors)
    assert training["optimizer"] == 289_652 * 4  # one momentum buffer per float32 parameter
    assert memory["inference"]["peak_bytes"] < training["peak_bytes"]
    fits = memory["fits"]
    assert fits["phase"] == "training" and fits["budget_bytes"] == 8 * 2**20
    assert fits["peak_bytes"] <= fits["budget_bytes"] < fits["next_peak_bytes"]
    code, out, _ = run(argv[:-2], capsys)
    assert code == 0
    assert "predicted peak memory (batch 32; sgd-momentum; bf16 autocast; channels-last):" in out
    assert f"batch {fits['batch_size']:,} (" in out and "most kept for backward: " in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_memory_predicted_for_cuda_says_so(capsys):
    """--device cuda: the CUDA step's prediction (no oneDNN copies), said in JSON and in the table."""
    argv = ["profile", "nin-fashion", "--train", "--batch", "64", "--device", "cuda", "--format", "json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    memory = json.loads(out)["memory"]
    expected = estimate_memory(create_model("nin-fashion"), (64, 1, 28, 28), MemorySetup(device="cuda"))
    assert memory["device"] == "cuda"
    assert memory["training"]["peak_bytes"] == expected.training.peak_bytes
    on_cpu = estimate_memory(create_model("nin-fashion"), (64, 1, 28, 28), MemorySetup())
    assert on_cpu.training.peak_bytes > expected.training.peak_bytes  # oneDNN's copies
    code, out, _ = run(argv[:-2], capsys)
    assert code == 0 and "on cuda: tensors only, cuBLAS/cuDNN workspaces not" in " ".join(out.split())


def test_memory_that_cannot_be_predicted_is_a_warning_unless_asked_for(tmp_path, capsys):
    """A model that runs on meta tensors but not on the (fake) CPU: the profile stands, with a
    warning; asked for with --train or --fits, the failure is the answer (one line, exit 2)."""
    path = tmp_path / "meta_only.py"
    path.write_text(textwrap.dedent(
        """
        from torch import nn

        class MetaOnly(nn.Conv2d):
            def forward(self, x):
                if x.device.type != "meta":
                    raise RuntimeError("this net refuses the CPU")
                return super().forward(x)

        def build():
            return MetaOnly(3, 4, 3)
        """
    ))  # fmt: skip
    code, out, _ = run(["profile", f"{path}:build", "--input", "3x8x8", "--format", "json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["memory"] is None and report["totals"]["params"] == 112
    assert any("peak memory not predicted" in w and "refuses the CPU" in w for w in report["warnings"])
    for flags in (["--train"], ["--fits", "1GiB"]):
        code, _, err = run(["profile", f"{path}:build", "--input", "3x8x8", *flags], capsys)
        assert code == 2 and "memory estimate failed" in err and "refuses the CPU" in err


def test_compare_puts_predicted_memory_side_by_side(capsys):
    """GoogLeNet with and without its 1×1 reductions: the training step's predicted peak of each."""
    argv = ["compare", "googlenet", "googlenet naive=true", "--train", "--batch", "4", "--format", "json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    metrics = {m["key"]: m for m in json.loads(out)["metrics"]}
    for i, naive in enumerate((False, True)):
        net = create_model("googlenet", naive=naive)
        memory = estimate_memory(net, (4, 3, 224, 224), MemorySetup("adamw"))
        assert metrics["training_peak_bytes"]["values"][i] == memory.training.peak_bytes
        assert metrics["inference_peak_bytes"]["values"][i] == memory.inference.peak_bytes
    assert metrics["training_peak_bytes"]["ratios"][1] > 2  # the reductions halve the step's memory
    code, out, _ = run(["compare", "nin-fashion", "nin-fashion width=0.5", "--format", "json"], capsys)
    keys = {m["key"] for m in json.loads(out)["metrics"]}
    assert "inference_peak_bytes" in keys and "training_peak_bytes" not in keys


def test_compare_names_the_device_memory_is_predicted_for(capsys):
    argv = ["compare", "nin-fashion", "nin-fashion width=0.5", "--train", "--batch", "16"]
    code, out, _ = run([*argv, "--device", "cuda", "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["memory_device"] == "cuda"
    metrics = {m["key"]: m for m in data["metrics"]}
    expected = estimate_memory(create_model("nin-fashion"), (16, 1, 28, 28), MemorySetup(device="cuda"))
    assert metrics["training_peak_bytes"]["values"][0] == expected.training.peak_bytes
    code, out, _ = run(argv, capsys)
    assert code == 0 and "training peak " in out and "cuda" not in out
    code, out, _ = run([*argv, "--device", "cuda"], capsys)
    assert code == 0 and "memory predicted for cuda" in " ".join(out.split())
