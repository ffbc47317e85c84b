"""FC → conv: exact equivalence at the original size, sliding windows on larger inputs, clear refusals."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from onebyone.errors import OneByOneError
from onebyone.models import create_model as build_model
from onebyone.runs import open_run, save_converted
from onebyone.surgery import convert_fc_layers, fc_to_conv


def _seeded(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):  # non-trivial running statistics
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def flatten_mlp_head() -> nn.Module:
    """conv → pool → flatten → linear → BN1d → ReLU → dropout → linear: an FC head on a 4×4 map."""
    return _seeded(
        nn.Sequential(
            nn.Conv2d(1, 6, 5),  # 12 → 8 (no padding: windows of the input map exactly)
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8 → 4
            nn.Flatten(),
            nn.Linear(6 * 4 * 4, 32),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(32, 5),
        )
    )


def test_sequential_flatten_head_is_exact_and_slides():
    model = flatten_mlp_head()
    result = convert_fc_layers(model, (1, 12, 12))
    assert [(c.layer, c.after) for c in result.layers] == [
        ("4", "Conv2d(6 → 32, 4×4)"),
        ("8", "Conv2d(32 → 5, 1×1)"),
    ]
    assert result.max_abs_difference < 1e-5
    converted = result.model.eval()
    x = torch.randn(3, 1, 12, 12)
    assert_close(converted(x), model(x))
    assert all(not isinstance(m, nn.Linear) for m in converted.modules())
    # on a 20×20 input: a 5×5 map whose cell (i, j) is the original on the window at (2i, 2j)
    big = torch.randn(2, 1, 20, 20)
    class_map = converted(big)
    assert class_map.shape == (2, 5, 5, 5)
    for i, j in [(0, 0), (1, 3), (4, 4)]:
        window = big[:, :, 2 * i : 2 * i + 12, 2 * j : 2 * j + 12]
        assert_close(class_map[:, :, i, j], model(window))


@pytest.mark.parametrize(
    ("name", "overrides", "size", "larger"),
    [
        ("nin-fashion", {"head": "fc"}, 28, 56),  # flatten of a 10×7×7 map into a linear layer
        ("resnet18", {"num_classes": 7}, 64, 128),  # global average pool + fc
        ("googlenet", {"num_classes": 7}, 224, 256),  # GAP 7×7 + dropout + fc
        ("alexnet", {}, 224, 256),  # adaptive 6×6 pool (identity at 224) + flatten + 3 linear layers
    ],
)
def test_zoo_fc_heads_convert_exactly(name, overrides, size, larger):
    model = _seeded(build_model(name, **overrides))
    channels = 1 if name == "nin-fashion" else 3
    result = convert_fc_layers(model, (1, channels, size, size))
    converted = result.model.eval()
    x = torch.randn(2, channels, size, size)
    with torch.no_grad():
        assert_close(converted(x), model(x), rtol=1e-4, atol=1e-4)
        class_map = converted(torch.randn(1, channels, larger, larger))
    assert class_map.dim() == 4 and class_map.shape[1] == model(x).shape[1]
    assert class_map.shape[-1] > 1
    assert not any(isinstance(m, nn.Linear) for m in converted.modules())


def test_alexnet_records_the_identity_pool_and_three_convs():
    result = convert_fc_layers(_seeded(build_model("alexnet")), (1, 3, 224, 224))
    assert [c.after for c in result.layers] == [
        "Conv2d(256 → 4096, 6×6)",
        "Conv2d(4096 → 4096, 1×1)",
        "Conv2d(4096 → 1000, 1×1)",
    ]
    assert len(result.pools) == 1 and "removed" in result.pools[0]


def test_the_original_is_not_modified():
    model = flatten_mlp_head()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fc_to_conv(model, (1, 12, 12))
    assert any(isinstance(m, nn.Linear) for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_a_model_without_linear_layers_is_refused():
    with pytest.raises(OneByOneError, match="no nn.Linear layer"):
        fc_to_conv(build_model("nin-fashion"), (1, 28, 28))


def test_a_linear_layer_on_a_plain_vector_names_the_layer():
    class VectorHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.classifier = nn.Linear(4, 3)

        def forward(self, x):
            return self.classifier(self.conv(x).amax(dim=(2, 3)).sort(dim=1).values)

    with pytest.raises(OneByOneError, match="classifier"):
        fc_to_conv(VectorHead().eval(), (1, 8, 8))


def test_save_and_load_round_trip(tmp_path):
    model = _seeded(build_model("nin-fashion", head="fc", width=0.25))
    result = convert_fc_layers(model, (1, 1, 28, 28))
    source = {"model": "nin-fashion", "model_overrides": {"head": "fc", "width": 0.25}}
    save_converted(tmp_path / "out", result, source)
    loaded = open_run(tmp_path / "out").model()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(OneByOneError, match="not empty"):
        save_converted(tmp_path / "out", result, source)
    with pytest.raises(OneByOneError, match="is not a run folder"):
        open_run(tmp_path)


class FunctionalHead(nn.Module):
    """conv → flatten (or GAP) → a linear head written as a function of parameters: `form` picks
    F.linear, x @ W + b (W stored in×out), torch.matmul(x, W.T) then F.linear without bias, or addmm."""

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.conv = nn.Conv2d(1, 3, 3)  # 8 → 6
        features = 3 if form == "matmul_gap" else 3 * 6 * 6
        self.weight = nn.Parameter(torch.randn(4, features) / features**0.5)
        self.weight_in_out = nn.Parameter(torch.randn(features, 4) / features**0.5)
        self.bias = nn.Parameter(torch.randn(4))
        self.second = nn.Parameter(torch.randn(2, 4))

    def forward(self, x):
        y = self.conv(x).relu()
        if self.form == "matmul_gap":
            return y.mean((2, 3)) @ self.weight_in_out + self.bias
        y = y.flatten(1)
        if self.form == "f_linear":
            return nn.functional.linear(y, self.weight, self.bias)
        if self.form == "matmul_t":
            return nn.functional.linear(torch.matmul(y, self.weight.T).relu(), self.second)
        return torch.addmm(self.bias, y, self.weight_in_out)


@pytest.mark.parametrize("form", ["f_linear", "matmul_gap", "matmul_t", "addmm"])
def test_functional_heads_convert_exactly_and_slide(form):
    torch.manual_seed(0)
    model = FunctionalHead(form).eval()
    result = convert_fc_layers(model, (1, 8, 8))
    assert result.layers, "no layer converted"
    converted = result.model.eval()
    x = torch.randn(3, 1, 8, 8)
    assert_close(converted(x), model(x))
    big = torch.randn(2, 1, 11, 10)
    class_map = converted(big)
    if form == "matmul_gap":  # the mean becomes a 6×6 window, stride 1: a 4×3 map on 9×8 features
        assert class_map.shape == (2, 4, 4, 3)
    else:
        assert class_map.shape[-2:] == (4, 3)
    for i, j in [(0, 0), (3, 2)]:
        assert_close(class_map[:, :, i, j], model(big[:, :, i : i + 8, j : j + 8]))


def test_a_functional_head_whose_weight_is_computed_names_the_reason():
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.weight = nn.Parameter(torch.randn(2 * 6 * 6, 3))

        def forward(self, x):
            return self.conv(x).flatten(1) @ (self.weight * 2)

    with pytest.raises(OneByOneError, match=r"cannot convert Masked: matmul\(\) .* not by a 2-D parameter"):
        fc_to_conv(Masked().eval(), (1, 8, 8))


USER_HEAD = """import torch
from torch import nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.w = nn.Parameter(torch.randn(5, 4 * 6 * 6))

    def forward(self, x):
        return F.linear(self.conv(x).flatten(1), {weight})


def build():
    return Net()
"""


def test_cli_converts_an_f_linear_head_and_refuses_a_computed_one(tmp_path, capsys):
    from onebyone.cli import main

    code = tmp_path / "head.py"
    code.write_text(USER_HEAD.format(weight="self.w"))
    out = tmp_path / "converted"
    assert main(["convert", "fc2conv", f"{code}:build", "--input", "3x8x8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Conv2d(4 → 5, 6×6)" in printed and "already fully convolutional" not in printed
    model = open_run(out, trust_code=True).model()
    assert model(torch.randn(1, 3, 12, 12)).shape == (1, 5, 5, 5)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)

    masked = tmp_path / "masked.py"
    masked.write_text(USER_HEAD.format(weight="self.w * 2"))
    argv = ["convert", "fc2conv", f"{masked}:build", "--input", "3x8x8", "--out", str(tmp_path / "m")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("onebyone: error: cannot convert Net: linear() at linear multiplies by a tensor ")
    assert "computed in the forward (mul() at mul), not by a 2-D parameter of the model" in err
