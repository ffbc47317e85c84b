"""Re-parameterisation through optimize(), `onebyone optimize`, `export` and `bench`."""

import json
import textwrap

import pytest
import torch

from onebyone.cli import main
from onebyone.deploy import count_layers, optimize
from tests.deploy.test_reparam import DBBBlock, RepVGGBlock, X, randomise

BLOCKS = """
    import torch
    from torch import nn

    def conv_bn(c_in, c_out, k, padding):
        return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=padding, bias=False), nn.BatchNorm2d(c_out))

    class Block(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv3x3, self.conv1x1 = conv_bn(channels, channels, 3, 1), conv_bn(channels, channels, 1, 0)
            self.identity = nn.BatchNorm2d(channels)

        def forward(self, x):
            return torch.relu(self.conv3x3(x) + self.conv1x1(x) + self.identity(x))

    def build():
        torch.manual_seed(0)
        net = nn.Sequential(conv_bn(1, 8, 3, 1), Block(8), Block(8), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
        return net
"""


@pytest.fixture()
def blocks_file(tmp_path):
    path = tmp_path / "blocks.py"
    path.write_text(textwrap.dedent(BLOCKS))
    return f"{path}:build"


def test_optimize_merges_by_default_and_reports_it():
    model = randomise(torch.nn.Sequential(RepVGGBlock(), DBBBlock()))
    fast, report = optimize(model, dtype="float32")
    with torch.no_grad():
        torch.testing.assert_close(fast(X), model(X), rtol=1e-5, atol=1e-5)
    assert count_layers(fast) == (2, 0)
    assert report.reparam.method == "fx" and report.reparam.merges[-1].kind == "parallel"
    assert ("0.conv3x3.0", "0.conv3x3.1") in report.fold.folded  # the BN fold runs first, as before
    plain, off = optimize(model, dtype="float32", reparam=False)
    assert off.reparam.method == "off" and count_layers(plain) == (7, 3)  # identity BNs follow no conv


def test_cli_optimize_lists_merges(blocks_file, capsys):
    assert main(["optimize", blocks_file, "--input", "1x16x16"]) == 0
    out = capsys.readouterr().out
    assert "convs 5 → 3, batch norms 7 → 0" in out
    assert (
        "1.reparam_conv (3×3) ← 1.conv3x3.0, 1.conv1x1.0, 1.identity  [parallel: conv + conv + norm]" in out
    )
    assert "left 0.0, 1.reparam_conv: 3×3 then 3×3: both kernels are larger than 1×1" in out
    assert main(["optimize", blocks_file, "--no-reparam", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["convs"] == [5, 5] and data["reparam"]["method"] == "off"


def test_cli_bench_no_reparam(blocks_file, capsys):
    argv = [
        "bench",
        blocks_file,
        "--input",
        "1x16x16",
        "--batch",
        "1",
        "--repeats",
        "1",
        "--dtype",
        "float32",
    ]
    assert main([*argv, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["reparam"] is True
    assert main([*argv, "--format", "json", "--no-reparam"]) == 0
    assert json.loads(capsys.readouterr().out)["reparam"] is False


def test_cli_export_reparameterised_and_not(blocks_file, tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "m.onnx"
    assert main(["export", blocks_file, "--input", "1x16x16", "--onnx", str(path)]) == 0
    out = capsys.readouterr().out
    assert "branches merged: 2 merges, convs 5 → 3" in out and "max |diff| vs the model given" in out
    convs = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]
    assert len(convs) == 3
    assert main(["export", blocks_file, "--input", "1x16x16", "--onnx", str(path), "--no-reparam"]) == 0
    assert "branches merged" not in capsys.readouterr().out
    assert len([n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]) == 5
