"""Reading .prototxt files: the text format, both syntaxes, every input declaration, phases, refusals.

The NIN files under nets/ were written for these tests from the Caffe table of the ImageNet NIN
(docs/claims.md, C4); the totals are the Caffe figures (7,595,176 parameters, 224→54→27→13→6→1).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from onebyone.caffe import build, parse_prototxt, read_prototxt
from onebyone.caffe.text_format import Name, parse_text
from onebyone.errors import OneByOneError
from onebyone.models.registry import create_model

NETS = Path(__file__).parent / "nets"
NIN_SIDES = {"conv1": 54, "pool1": 27, "pool2": 13, "pool3": 6, "pool4": 1}
CONV = "convolution_param { num_output: 4 kernel_size: 3 }"


def params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_text_format_values_and_spellings():
    message = parse_text(
        "a: \"x\\ty\" 'z' # comment\nb: -1.5e2 c: 0x1F d: MAX e { f: [1, 2] } g: < h: "
        "true >; "
        "i: inf j: 3f\nk: { }"
    )
    assert message.last("a") == "x\tyz" and message.last("b") == -150.0 and message.last("c") == 31
    assert isinstance(message.last("d"), Name) and message.last("d") == "MAX"
    assert message.last("e").all("f") == [[1, 2]] and message.last("g").last("h") == "true"
    assert message.last("i") == float("inf") and message.last("j") == 3.0 and message.last("k").fields == []
    escapes = parse_text(r'a: "\x41\101\x" b: "\q"')
    assert escapes.last("a") == "AAx" and escapes.last("b") == "q"  # hex, octal, and unknown escapes


INPUT8 = 'input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'


@pytest.mark.parametrize(
    "text, words",
    [
        ('layer { name: "a"', ["line 1", "missing '}'"]),
        ("layer { name: }", ["line 1", "expected a value"]),
        ('a: "x"\nb @', ["line 2", "unexpected character '@'"]),
        ("a 3", ["expected ':'"]),
    ],
)
def test_malformed_text_is_one_line_with_the_line_number(text, words):
    with pytest.raises(OneByOneError) as info:
        parse_text(text, "bad.prototxt")
    assert "\n" not in str(info.value) and "bad.prototxt" in str(info.value)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("file", ["nin_imagenet_deploy.prototxt", "nin_imagenet_train_val.prototxt"])
def test_nin_imagenet_in_both_syntaxes_matches_the_caffe_table(file):
    definition = read_prototxt(NETS / file)
    module = build(definition)
    assert params(module) == 7_595_176 == params(create_model("nin-imagenet"))
    for blob, side in NIN_SIDES.items():
        assert module.blob_shapes[blob][2:] == (side, side), blob
    assert module.blob_shapes["pool4"][1:] == (1000, 1, 1)
    assert definition.syntax == ("V1 layers" if "train_val" in file else "V2 layer")
    if "train_val" in file:  # TEST phase: the TEST data layer (batch 89), accuracy dropped, loss excluded
        assert module.input_shape == (89, 3, 224, 224) and definition.dropped == ("accuracy (Accuracy)",)
    at_227 = build(definition, (3, 227, 227))
    assert at_227.blob_shapes["conv1"][2:] == (55, 55) and at_227.blob_shapes["pool3"][2:] == (6, 6)


INPUTS = {
    "input_dim": 'input: "data" input_dim: 2 input_dim: 3 input_dim: 10 input_dim: 12',
    "input_shape": 'input: "data" input_shape { dim: 2 dim: 3 dim: 10 dim: 12 }',
    "Input layer": 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 '
    "dim: 10 "
    "dim: 12 } } }",
    "MemoryData": 'layer { name: "data" type: "MemoryData" top: "data" top: "label" memory_data_param { '
    "batch_size: 2 channels: 3 height: 10 width: 12 } }",
    "ImageData": 'layer { name: "data" type: "ImageData" top: "data" top: "label" image_data_param { '
    'source: "list.txt" batch_size: 2 new_height: 10 new_width: 12 } }',
}


@pytest.mark.parametrize("kind", INPUTS)
def test_every_input_declaration(kind):
    text = INPUTS[kind] + f'\nlayer {{ name: "c" type: "Convolution" bottom: "data" top: "c" {CONV} }}'
    module = build(parse_prototxt(text))
    assert module.input_shape == (2, 3, 10, 12) and module.blob_shapes["c"] == (2, 4, 8, 10)
    assert build(parse_prototxt(text), (3, 5, 5)).blob_shapes["c"] == (2, 4, 3, 3)  # --input overrides


def test_crop_size_of_a_data_layer_and_phase_rules():
    text = (
        """
    layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN }
            transform_param { crop_size: 32 mirror: true } data_param { source: "t" batch_size: 64 } }
    layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TEST }
            transform_param { crop_size: 28 mean_value: 104 mean_value: 117 mean_value: 123 }
            data_param { source: "v" batch_size: 10 } }
    layer { name: "c" type: "Convolution" bottom: "data" top: "c" """
        + CONV
        + """ }
    layer { name: "train_only" type: "ReLU" bottom: "c" top: "c" include { phase: TRAIN } }
    layer { name: "not_test" type: "ReLU" bottom: "c" top: "c" exclude { phase: TEST } }
    layer { name: "staged" type: "ReLU" bottom: "c" top: "c" include { stage: "deploy" } }
    layer { name: "acc" type: "Accuracy" bottom: "c" bottom: "label" top: "acc" }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "c" bottom: "label" top: "loss" }"""
    )
    definition = parse_prototxt(text)
    assert [layer.name for layer in definition.layers] == ["c"]
    assert definition.dropped == ("acc (Accuracy)", "loss (SoftmaxWithLoss)")
    assert build(definition).input_shape == (10, 3, 28, 28)
    assert definition.inputs[0].mean == (104.0, 117.0, 123.0)


@pytest.mark.parametrize(
    "text, words",
    [
        (
            INPUT8 + 'layer { name: "a" type: "ReLU" '
            'bottom: "data" top: "a" }\nlayers { name: "b" type: RELU bottom: "a" top: "b" '
            "}",
            ["mixes", "Caffe refuses"],
        ),
        (
            INPUT8 + 'layer { name: "w" type: "Warp" bottom: "data" top: "w" }',
            ["'w'", "unknown layer type 'Warp'", "supported: BatchNorm"],
        ),
        (
            'input: "data" input_dim: 1 input_dim: 3 input_dim: 8\n'
            'layer { name: "a" type: "ReLU" bottom: "data" top: "a" }',
            ["need 4 input_dim"],
        ),
        (
            INPUT8 + 'layer { name: "p" type: "Pooling" '
            'bottom: "data" top: "p" pooling_param { pool: MAX kernel_size: 2 round: 1 } }',
            ["unknown field 'round'"],
        ),
        (
            INPUT8 + 'layer { name: "c" type: "Convolution" bottom: "nope" top: "c" ' + CONV + " }",
            ["bottom 'nope' is not made by any layer"],
        ),
        (
            'input: "data" input_dim: 1 input_dim: 3 input_dim: 2 input_dim: 2\nlayer { name: "c" type: '
            '"Convolution" '
            'bottom: "data" top: "c" ' + CONV + " }",
            ["layer 'c'", "does not fit bottoms of shapes [[1, 3, 2, 2]]"],
        ),
        (
            'layer { name: "d" type: "Data" top: "data" top: "label" data_param { source: "x" } }\n'
            'layer { name: "c" type: "Convolution" bottom: "data" top: "c" ' + CONV + " }",
            ["gives no input size", "--input"],
        ),
        (
            INPUT8 + 'layers { name: "r" type: Relu bottom: "data" top: "r" }',
            ["LayerType constant"],
        ),
        (
            INPUT8 + 'layer { name: "p" type: "Pooling" '
            'bottom: "data" top: "p" pooling_param { pool: STOCHASTIC kernel_size: 2 } }',
            ["STOCHASTIC"],
        ),
        (
            INPUT8 + 'layer { name: "c" type: '
            '"Convolution" '
            'bottom: "data" top: "c" convolution_param { num_output: 4 kernel_size: 3 group: 2 } }',
            ["group 2"],
        ),
        ('name: "empty"', ["defines no layers"]),
        (
            INPUT8 + 'layer { name: "c" '
            'type: "Convolution" bottom: "data" top: "c" param { name: "w" lr_mult: 1 } ' + CONV + " }",
            ["shares weights by name ('w')"],
        ),
    ],
)
def test_refusals_are_one_line_naming_the_layer(text, words):
    with pytest.raises(OneByOneError) as info:
        build(parse_prototxt(text, "net.prototxt"))
    message = str(info.value)
    assert "\n" not in message and message.startswith("net.prototxt")
    for word in words:
        assert word in message, message


def test_missing_file():
    with pytest.raises(OneByOneError, match="not found"):
        read_prototxt(NETS / "nope.prototxt")


def test_the_module_runs_and_traces_like_the_zoo_nin():
    module = build(read_prototxt(NETS / "nin_imagenet_deploy.prototxt"))
    traced = torch.fx.symbolic_trace(module)
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(traced(x), module(x))
    convs = [n for n, m in module.named_children() if isinstance(m, torch.nn.Conv2d)]
    assert convs[:3] == ["conv1", "cccp1", "cccp2"]
