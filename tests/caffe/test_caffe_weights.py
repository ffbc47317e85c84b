"""Weights from .caffemodel files written by protobuf's own library (an independent writer) and by hand.

Each file is loaded back and compared tensor by tensor; the imported NIN with weights gives the zoo's
nin-imagenet logits with the same weights; damaged files are one line naming the layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from onebyone.caffe import build, index_caffemodel, load_caffemodel, parse_prototxt, read_prototxt
from onebyone.errors import OneByOneError
from onebyone.models.registry import create_model

pytest.importorskip("google.protobuf")
from tests.caffemodel_writer import protobuf_caffemodel, tiny_caffemodel  # noqa: E402 - needs protobuf

NIN = Path(__file__).parent / "nets" / "nin_imagenet_deploy.prototxt"
NIN_CONVS = [
    "conv1",
    "cccp1",
    "cccp2",
    "conv2",
    "cccp3",
    "cccp4",
    "conv3",
    "cccp5",
    "cccp6",
    "conv4",
    "cccp7",
    "cccp8",
]
SMALL = """input: "data" input_dim: 1 input_dim: 3 input_dim: 6 input_dim: 6
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
layer { name: "scale" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "prelu" type: "PReLU" bottom: "conv" top: "conv" }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc" inner_product_param { num_output: 5 } }
layer { name: "fct" type: "InnerProduct" bottom: "fc" top: "fct"
        inner_product_param { num_output: 2 transpose: true } }
"""


def small_blobs(seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)

    def r(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return {
        "conv": [r(4, 3, 3, 3), r(4)],
        "bn": [r(4), np.abs(r(4)) + 1, np.array([2.0], np.float32)],
        "scale": [r(4), r(4)],
        "prelu": [r(4)],
        "fc": [r(5, 64), r(5)],
        "fct": [r(5, 2), r(2)],
        "not_in_the_net": [r(3)],
    }


def check_small(module, blobs):
    torch.testing.assert_close(module.conv.weight, torch.from_numpy(blobs["conv"][0]), rtol=0, atol=0)
    torch.testing.assert_close(module.conv.bias, torch.from_numpy(blobs["conv"][1]), rtol=0, atol=0)
    torch.testing.assert_close(module.bn.running_mean, torch.from_numpy(blobs["bn"][0]) / 2)  # ÷ scale factor
    torch.testing.assert_close(module.bn.running_var, torch.from_numpy(blobs["bn"][1]) / 2)
    torch.testing.assert_close(module.scale.weight, torch.from_numpy(blobs["scale"][0]), rtol=0, atol=0)
    torch.testing.assert_close(module.scale.bias, torch.from_numpy(blobs["scale"][1]), rtol=0, atol=0)
    torch.testing.assert_close(module.prelu.weight, torch.from_numpy(blobs["prelu"][0]), rtol=0, atol=0)
    torch.testing.assert_close(module.fc.weight, torch.from_numpy(blobs["fc"][0]), rtol=0, atol=0)
    torch.testing.assert_close(module.fct.weight, torch.from_numpy(blobs["fct"][0]).T, rtol=0, atol=0)


@pytest.mark.parametrize("how", ["v2", "v1 legacy dims", "double_data", "tiny packed", "tiny unpacked"])
def test_blobs_load_tensor_by_tensor(tmp_path, how):
    blobs = small_blobs()
    if how.startswith("tiny"):
        data = tiny_caffemodel(blobs, packed=how == "tiny packed")
    else:
        data = protobuf_caffemodel(
            blobs, v1=how.startswith("v1"), legacy="legacy" in how, double=how == "double_data"
        )
    path = tmp_path / "net.caffemodel"
    path.write_bytes(data)
    module = build(parse_prototxt(SMALL))
    report = load_caffemodel(module, path)
    assert report.loaded == ["conv", "bn", "scale", "prelu", "fc", "fct"] and report.missing == []
    assert report.ignored == ["not_in_the_net"]
    check_small(module, blobs)


def test_nin_with_weights_gives_the_zoo_logits(tmp_path):
    zoo = create_model("nin-imagenet").eval()
    generator = torch.Generator().manual_seed(0)
    layers = {}
    convs = [m for m in zoo.modules() if isinstance(m, torch.nn.Conv2d)]
    for name, conv in zip(NIN_CONVS, convs, strict=True):
        he = (2 / conv.weight[0].numel()) ** 0.5
        conv.weight.data.copy_(torch.randn(conv.weight.shape, generator=generator) * he)
        conv.bias.data.copy_(torch.randn(conv.bias.shape, generator=generator) * 0.1)
        layers[name] = [conv.weight.detach().numpy(), conv.bias.detach().numpy()]
    path = tmp_path / "nin.caffemodel"
    path.write_bytes(protobuf_caffemodel(layers, v1=True, legacy=True))  # as the 2014 files were written
    module = build(read_prototxt(NIN))
    assert load_caffemodel(module, path).loaded == NIN_CONVS
    x = torch.randn(2, 3, 224, 224, generator=generator) * 50
    with torch.no_grad():
        torch.testing.assert_close(module(x).flatten(1), zoo(x), atol=1e-5, rtol=1e-5)


def test_a_missing_layer_keeps_its_weights_and_is_reported(tmp_path):
    blobs = small_blobs()
    del blobs["fct"]
    path = tmp_path / "net.caffemodel"
    path.write_bytes(protobuf_caffemodel(blobs))
    assert load_caffemodel(build(parse_prototxt(SMALL)), path).missing == ["fct"]


@pytest.mark.parametrize(
    "change, words",
    [
        (
            lambda b: b.update(conv=[b["conv"][0][:, :2], b["conv"][1]]),
            ["layer 'conv'", "blob 0 has shape 4x2x3x3", "needs 4x3x3x3"],
        ),
        (lambda b: b.update(scale=[b["scale"][0]]), ["layer 'scale'", "1 blob(s) in the file", "has 2"]),
        (lambda b: b.update(fc=[b["fc"][0].T, b["fc"][1]]), ["layer 'fc'", "64x5", "needs 5x64"]),
    ],
)
def test_blobs_that_do_not_fit_are_one_line(tmp_path, change, words):
    blobs = small_blobs()
    change(blobs)
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(protobuf_caffemodel(blobs))
    with pytest.raises(OneByOneError) as info:
        load_caffemodel(build(parse_prototxt(SMALL)), path)
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("cut", [1, 100, 2000])
def test_a_truncated_file_is_one_line(tmp_path, cut):
    data = protobuf_caffemodel(small_blobs())
    path = tmp_path / "cut.caffemodel"
    path.write_bytes(data[:-cut])
    with pytest.raises(OneByOneError, match="truncated"):
        load_caffemodel(build(parse_prototxt(SMALL)), path)


def test_not_a_caffemodel(tmp_path):
    path = tmp_path / "x.caffemodel"
    path.write_bytes(b"")
    with pytest.raises(OneByOneError, match="empty"):
        index_caffemodel(path)
    path.write_text("name: 'a prototxt, not weights'\n")
    with pytest.raises(OneByOneError, match="caffemodel"):
        index_caffemodel(path)
    with pytest.raises(OneByOneError, match="not found"):
        index_caffemodel(tmp_path / "none.caffemodel")
