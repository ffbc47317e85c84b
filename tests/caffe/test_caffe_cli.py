"""Caffe files through the command line: profile, compare, convert caffe, then the run folder everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from onebyone.caffe import build, read_prototxt
from onebyone.cli import main
from onebyone.errors import OneByOneError
from onebyone.runs import open_run, open_run_or_model

NETS = Path(__file__).parent / "nets"
NIN = NETS / "nin_imagenet_deploy.prototxt"
TINY = NETS / "tiny_nin.prototxt"
pytest.importorskip("google.protobuf")
from tests.caffemodel_writer import protobuf_caffemodel  # noqa: E402 - needs protobuf


def run_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main([*map(str, argv), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_profile_a_prototxt_and_at_another_input(capsys):
    result = run_json(capsys, "profile", NIN)
    assert result["totals"]["params"] == 7_595_176 and result["totals"]["output_shape"] == [1, 1000, 1, 1]
    assert run_json(capsys, "profile", TINY, "--input", "3x64x64")["totals"]["output_shape"] == [1, 10]


def test_compare_the_zoo_with_the_published_definition(capsys):
    data = run_json(capsys, "compare", "nin-imagenet", NIN)
    metrics = {m["key"]: m["values"] for m in data["metrics"]}
    assert metrics["params"] == [7_595_176, 7_595_176] and metrics["macs"][0] == metrics["macs"][1]
    assert metrics["pointwise_params"][0] == metrics["pointwise_params"][1]


@pytest.fixture()
def folder(tmp_path, capsys):
    rng = np.random.default_rng(0)

    def r(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    blobs = {"conv1": [r(8, 3, 3, 3), r(8)], "cccp1": [r(10, 8, 1, 1), r(10)]}
    weights = tmp_path / "tiny.caffemodel"
    weights.write_bytes(protobuf_caffemodel(blobs, v1=True, legacy=True))
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(10)))
    out = tmp_path / "run"
    report = run_json(
        capsys,
        "convert",
        "caffe",
        TINY,
        "--weights",
        weights,
        "--classes",
        labels,
        "--mean",
        "104,117,123",
        "--out",
        out,
    )
    assert report["params"] == 8 * 27 + 8 + 10 * 8 + 10 and report["weights"]["loaded"] == ["conv1", "cccp1"]
    assert sorted(p.name for p in out.iterdir()) == ["caffe.json", "model.safetensors", "net.prototxt"]
    return out, blobs, tmp_path


def test_the_folder_holds_the_weights_and_the_transform(folder):
    out, blobs, _ = folder
    run = open_run(out)
    model = run.model()
    torch.testing.assert_close(model.conv1.weight, torch.from_numpy(blobs["conv1"][0]), rtol=0, atol=0)
    torch.testing.assert_close(model.cccp1.bias, torch.from_numpy(blobs["cccp1"][1]), rtol=0, atol=0)
    assert run.input_size == (3, 32, 32) and run.classes[3] == "class 3"
    pixels = torch.full((1, 3, 32, 32), 200, dtype=torch.uint8)
    expected = torch.tensor([96.0, 83, 77]).reshape(1, 3, 1, 1).expand(1, 3, 32, 32)  # pixel − mean, scale 1
    torch.testing.assert_close(run.preprocess(pixels), expected)
    assert json.loads((out / "caffe.json").read_text())["channel_order"] == "bgr"


def test_rgb_photos_reach_a_caffe_net_as_bgr(folder, tmp_path, capsys):
    """Caffe's nets take BGR (default --channel-order bgr): the photo's red plane is the net's last."""
    out, _, _ = folder
    rgb = torch.zeros((1, 3, 32, 32), dtype=torch.uint8)
    rgb[:, 0] = 255  # pure red
    bgr_input = open_run(out).preprocess(rgb)
    torch.testing.assert_close(bgr_input[:, 2], torch.full((1, 32, 32), 255.0 - 123))  # red − its mean
    torch.testing.assert_close(bgr_input[:, 0], torch.full((1, 32, 32), -104.0))
    rgb_run = tmp_path / "rgb"
    run_json(capsys, "convert", "caffe", TINY, "--channel-order", "rgb", "--out", rgb_run)
    torch.testing.assert_close(open_run(rgb_run).preprocess(rgb)[:, 0], torch.full((1, 32, 32), 255.0))
    record = json.loads((rgb_run / "caffe.json").read_text())
    (rgb_run / "caffe.json").write_text(json.dumps({**record, "channel_order": "grb"}))
    with pytest.raises(OneByOneError, match="channel_order must be one of bgr, rgb, got 'grb'"):
        open_run(rgb_run)


def test_predict_profile_export_on_the_folder(folder, capsys):
    out, _, tmp = folder
    pixels = np.random.default_rng(1).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp / "p.png")
    predictions = run_json(capsys, "predict", out, "--image", tmp / "p.png", "--top", "10")["predictions"]
    assert abs(sum(p["probability"] for p in predictions) - 1) < 1e-5
    assert run_json(capsys, "profile", out)["totals"]["params"] == 314
    for subject in (out, TINY):  # the folder, and the bare prototxt
        exported = run_json(capsys, "export", subject, "--onnx", tmp / "net.onnx")
        assert exported["max_abs_diff"] is not None and exported["max_abs_diff"] < 1e-3


def test_predict_reads_a_softmax_output_as_probabilities(tmp_path, capsys):
    text = TINY.read_text() + 'layer { name: "prob" type: "Softmax" bottom: "logits" top: "prob" }\n'
    prototxt = tmp_path / "deploy.prototxt"
    prototxt.write_text(text)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"c{i}\n" for i in range(10)))
    out = tmp_path / "run"
    run_json(capsys, "convert", "caffe", prototxt, "--classes", labels, "--out", out)
    Image.fromarray(np.full((32, 32, 3), 77, np.uint8)).save(tmp_path / "p.png")
    got = run_json(capsys, "predict", out, "--image", tmp_path / "p.png", "--top", "10")["predictions"]
    run = open_run(out)
    with torch.no_grad():
        probabilities = run.model()(run.preprocess(run.photo(tmp_path / "p.png")))[0]
    expected = sorted(probabilities.tolist(), reverse=True)  # as the net gives them: not softmaxed again
    assert [p["probability"] for p in got] == pytest.approx(expected, abs=1e-6)


def test_a_train_val_file_gives_its_mean_to_the_run(tmp_path):
    text = (
        (NETS / "nin_imagenet_train_val.prototxt")
        .read_text()
        .replace('mean_file: "imagenet-mean"', "mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.5")
    )
    prototxt = tmp_path / "train_val.prototxt"
    prototxt.write_text(text)
    run = open_run_or_model(str(prototxt))
    assert run.input_size == (3, 224, 224) and build(read_prototxt(prototxt)).input_shape[0] == 89
    pixels = torch.full((1, 3, 1, 1), 110, dtype=torch.uint8)
    expected = torch.tensor([3.0, -3.5, -6.5]).reshape(1, 3, 1, 1)  # (pixel − mean) · scale
    torch.testing.assert_close(run.preprocess(pixels), expected)


def test_compare_layer_by_layer(capsys):
    data = run_json(capsys, "compare", "nin-imagenet", NIN, "--layers")["layers"]
    assert data["all_same"] and len(data["layers"]) == 12
    cccp1 = {
        "layer": "cccp1",
        "type": "Conv2d",
        "output_shape": [96, 54, 54],
        "params": 96 * 96 + 96,
        "macs": 96 * 96 * 54 * 54,
    }
    assert data["layers"][1]["layers"][1] == cccp1
    other = run_json(capsys, "compare", "nin-imagenet", NIN, "--layers", "--input", "3x227x227")["layers"]
    assert other["all_same"]  # both at 227: 55 → 27 → 13 → 6, the same table
    mixed = run_json(capsys, "compare", "nin-cifar", NIN, "--layers", "--input", "3x224x224")["layers"]
    assert not mixed["all_same"] and mixed["layers"][-1]["layers"][0] is None  # NIN-CIFAR has 9 of the 12


FC_NET = """input: "data" input_shape { dim: 1 dim: 3 dim: 17 dim: 17 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 6 kernel_size: 3 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool1" top: "fc6" inner_product_param { num_output: 12 } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7" inner_product_param { num_output: 5 } }
"""


def test_compress_and_fc2conv_folders_of_a_caffe_net_reopen(tmp_path, capsys):
    prototxt = tmp_path / "fc.prototxt"
    prototxt.write_text(FC_NET)
    assert build(read_prototxt(prototxt)).blob_shapes["pool1"] == (1, 6, 4, 4)  # 8 → 4 with ceil (floor: 3)
    converted = run_json(capsys, "convert", "fc2conv", prototxt, "--out", tmp_path / "conv")
    assert converted["max_abs_difference"] < 1e-5 and converted["larger_output_shape"] == [1, 5, 5, 5]
    assert [layer["after"] for layer in converted["layers"]] == ["Conv2d(6 → 12, 4×4)", "Conv2d(12 → 5, 1×1)"]
    params = run_json(capsys, "profile", tmp_path / "conv")["totals"]["params"]
    assert params == 6 * 27 + 6 + 96 * 12 + 12 + 65
    run_json(capsys, "convert", "caffe", prototxt, "--out", tmp_path / "caffe")
    run_json(
        capsys,
        "compress",
        tmp_path / "caffe",
        "--budget",
        "0.6",
        "--repeats",
        "1",
        "--batch",
        "1",
        "--out",
        tmp_path / "small",
    )
    reopened = open_run(tmp_path / "small")
    assert reopened.kind == "compressed" and reopened.model()(torch.randn(1, 3, 17, 17)).shape == (1, 5)
