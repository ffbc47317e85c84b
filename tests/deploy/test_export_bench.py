"""ONNX round trip and the inference benchmark, through the library and the CLI."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from onebyone.cli import main
from onebyone.deploy.bench import bench, is_pointwise
from onebyone.deploy.export import export_onnx
from onebyone.errors import OneByOneError

pytest.importorskip("onnxruntime")


def tiny_nin() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 16, 1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(16, 10, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


class Unexportable(nn.Module):
    """torch.histc has no ONNX symbolic at opset 17: the exporter must refuse it."""

    def forward(self, x):
        return torch.histc(x, bins=4)


@pytest.fixture()
def user_model_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(
        textwrap.dedent("""
        from torch import nn
        def build(width=16):
            return nn.Sequential(
                nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 1), nn.ReLU(), nn.Conv2d(width, 10, 1),
                nn.AdaptiveAvgPool2d(1), nn.Flatten())
        def not_a_model():
            return 42
    """)
    )
    return path


def test_onnx_round_trip_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    model = tiny_nin().eval()
    result = export_onnx(model, tmp_path / "m.onnx", (2, 1, 28, 28))
    assert result.output_shape == (2, 10)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4
    # The batch axis is dynamic: the file runs at another batch size too.
    import onnxruntime

    session = onnxruntime.InferenceSession(result.path, providers=["CPUExecutionProvider"])
    x = torch.randn(5, 1, 28, 28)
    (out,) = session.run(None, {"input": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), model(x).detach(), rtol=1e-4, atol=1e-4)


def test_unexportable_op_gives_clear_error(tmp_path):
    with pytest.raises(OneByOneError, match="cannot export to ONNX: .*aten::histc"):
        export_onnx(Unexportable(), tmp_path / "bad.onnx", (1, 1, 4, 4))
    assert not (tmp_path / "bad.onnx").exists()


def test_export_missing_folder(tmp_path):
    with pytest.raises(OneByOneError, match="does not exist"):
        export_onnx(tiny_nin(), tmp_path / "nope" / "m.onnx", (1, 1, 28, 28))


def test_bench_numbers_are_sensible():
    result = bench(tiny_nin(), (1, 28, 28), batch_sizes=(1, 8), dtype=torch.float32, repeats=3)
    assert result.dtype == "float32"  # a torch dtype is taken and recorded by name
    assert [(r.variant, r.batch) for r in result.latency] == [
        ("eager fp32 NCHW", 1),
        ("optimised", 1),
        ("eager fp32 NCHW", 8),
        ("optimised", 8),
    ]
    for row in result.latency:
        assert row.median_ms > 0
        assert row.images_per_s == pytest.approx(row.batch / (row.median_ms / 1e3))
    assert [r.layer for r in result.pointwise] == ["3", "6"]
    first = result.pointwise[0]
    assert (first.pixels, first.in_channels, first.out_channels) == (8 * 28 * 28, 16, 16)
    assert all(r.conv_gflops > 0 and r.matmul_gflops > 0 for r in result.pointwise)
    data = result.to_dict()
    assert data["schema_version"] == 1 and set(data["speedup"]) == {"1", "8"}


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (nn.Conv2d(4, 4, 1), True),
        (nn.Conv2d(4, 4, 1, stride=2), False),
        (nn.Conv2d(4, 4, 1, groups=2), False),
        (nn.Conv2d(4, 4, 3), False),
        (nn.Linear(4, 4), False),
    ],
)
def test_is_pointwise(module, expected):
    assert is_pointwise(module) is expected


def test_cli_export_and_bench_on_user_file(tmp_path, user_model_file, capsys):
    out = tmp_path / "user.onnx"
    spec = f"{user_model_file}:build"
    assert main(["export", spec, "--input", "1x28x28", "--onnx", str(out), "--set", "width=8"]) == 0
    assert out.exists() and "max |diff|" in capsys.readouterr().out
    assert (
        main(
            [
                "bench",
                spec,
                "--input",
                "1x16x16",
                "--batch",
                "1",
                "2",
                "--repeats",
                "2",
                "--dtype",
                "float32",
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["input_shape"] == [1, 16, 16] and len(data["latency"]) == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "{file}:build", "--onnx", "x.onnx"], "give the input size with --input"),
        (["export", "{file}:not_a_model", "--input", "1x8x8", "--onnx", "x.onnx"], "not an nn.Module"),
        (["export", "{file}:missing", "--input", "1x8x8", "--onnx", "x.onnx"], "has no callable 'missing'"),
        (["export", "nowhere.py:build", "--input", "1x8x8", "--onnx", "x.onnx"], "not found"),
        (["bench", "{file}:build", "--input", "1x8", "--batch", "1"], "bad input shape"),
        (["bench", "{file}:build", "--input", "1x8x8", "--dtype", "int3"], "unknown dtype"),
        (["bench", "{file}:build", "--input", "1x8x8", "--batch", "0"], "must be positive"),
        (["bench", "{file}:build", "--input", "1x8x8", "--set", "width"], "bad override"),
        (["bench", "{file}:build", "--input", "1x8x8", "--frobnicate"], "unrecognized arguments"),
        (["bench", "{file}:build", "--input", "1x8x8", "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_cli_errors_are_one_line(user_model_file, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{file}", str(user_model_file)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors exit from inside parse_args
        code = exit_.code
    stderr = capsys.readouterr().err
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_cli_error_in_a_real_process_has_no_traceback(user_model_file, tmp_path):
    argv = ["export", f"{user_model_file}:not_a_model", "--input", "1x8x8", "--onnx", "x.onnx"]
    proc = subprocess.run(
        [sys.executable, "-m", "onebyone", *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "onebyone: error: " + f"{user_model_file}:not_a_model returned int, not an nn.Module"
    )


@pytest.mark.parametrize(
    ("name", "input_shape"),
    [("nin-fashion", (2, 1, 28, 28)), ("nin-cifar", (2, 3, 32, 32)), ("resnet18", (1, 3, 64, 64))],
)
def test_onnx_round_trip_on_zoo_models(tmp_path, name, input_shape):
    from onebyone.models import create_model

    torch.manual_seed(0)
    result = export_onnx(create_model(name), tmp_path / f"{name}.onnx", input_shape)
    assert result.output_shape == (input_shape[0], 10 if name != "resnet18" else 1000)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4


def test_cli_export_and_bench_accept_a_training_run(tmp_path, capsys):
    from onebyone.train import TrainConfig, train

    run = tmp_path / "run"
    config = TrainConfig(
        model="nin-fashion",
        model_overrides={"width": 0.25},
        data="digits",
        epochs=1,
        batch_size=64,
        subset=256,
        out=str(run),
        progress=False,
    )
    train(config)
    assert main(["export", str(run), "--onnx", str(tmp_path / "run.onnx")]) == 0
    assert "max |diff|" in capsys.readouterr().out
    assert (
        main(["bench", str(run), "--batch", "2", "--repeats", "1", "--dtype", "float32", "--format", "json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["input_shape"] == [1, 8, 8]  # the digits data set's size, not the zoo model's 28×28
    assert main(["bench", str(run), "--set", "width=1"]) == 2
    assert "a training run's model is fixed" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_bench_on_cuda_without_cuda_says_so():
    with pytest.raises(OneByOneError, match="no CUDA device is available"):
        bench(tiny_nin(), (1, 28, 28), batch_sizes=(1,), device="cuda")
