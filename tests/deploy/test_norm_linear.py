"""A batch norm beside a Linear folds into it where both act on one axis: exact outputs, the reasons."""

import json
import textwrap

import pytest
import torch
from torch import nn

from onebyone.cli import main
from onebyone.deploy import count_layers, fold_batchnorm, optimize, reparameterize


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial statistics and affine parameters in every batch norm (1-d too); eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=g) * 0.5)
    return model.eval()


def batch_norms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


FEATURES = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))  # (N, C)
TOKENS = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(2))  # (N, C, L) with C == L


def folded_exactly(model: nn.Module, x: torch.Tensor, **kwargs):
    model = randomise(model)
    folded, report = fold_batchnorm(model, **kwargs)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    return folded, report


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_norm_before_linear_folds_into_it(bias, affine):
    model = nn.Sequential(nn.BatchNorm1d(8, affine=affine), nn.Linear(8, 5, bias=bias))
    folded, report = folded_exactly(model, FEATURES, example_input=FEATURES)
    assert report.folded == [("1", "0")] and not report.kept and not report.reasons
    assert batch_norms(folded) == 0 and isinstance(folded[0], nn.Identity)
    assert folded[1].bias is not None  # the norm's shift becomes the Linear's bias


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_norm_after_linear_folds_into_it(bias, affine):
    model = nn.Sequential(nn.Linear(8, 6, bias=bias), nn.BatchNorm1d(6, affine=affine), nn.ReLU())
    folded, report = folded_exactly(model, FEATURES, example_input=FEATURES)
    assert report.folded == [("0", "1")] and batch_norms(folded) == 0


def test_norms_on_both_sides_of_one_linear_both_fold():
    model = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 6), nn.BatchNorm1d(6))
    folded, report = folded_exactly(model, FEATURES, example_input=FEATURES)
    assert sorted(report.folded) == [("1", "0"), ("1", "2")] and batch_norms(folded) == 0


def test_same_layers_on_a_rank_3_input_are_not_folded():
    """BatchNorm1d(8) then Linear(8, 5) on (N, 8, 8): the norm scales dim 1, the Linear mixes dim 2."""
    model = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 5))
    folded, report = folded_exactly(model, TOKENS, example_input=TOKENS)
    assert not report.folded and report.kept == ["0"]
    assert report.reasons["0"] == (
        "before Linear 1, on a 4×8×8 input: the norm scales dim 1 and the Linear mixes dim 2, "
        "so no Linear computes both"
    )


def test_linear_then_norm_on_a_rank_3_input_is_not_folded():
    """Linear(8, 8) on (N, 8, 8) then BatchNorm1d(8): the Linear writes dim 2, the norm scales dim 1."""
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
    _, report = folded_exactly(model, TOKENS, example_input=TOKENS)
    assert not report.folded and report.reasons["1"].startswith("after Linear 0, on a 4×8×8 input")


def test_rank_3_model_input_folds_where_the_norm_sees_n_by_c():
    class TokenHead(nn.Module):  # tokens (N, C, L), averaged over L, then a normalised classifier
        def __init__(self):
            super().__init__()
            self.mix = nn.Linear(8, 8)
            self.norm = nn.BatchNorm1d(8)
            self.classifier = nn.Linear(8, 3)

        def forward(self, x):
            return self.classifier(self.norm(self.mix(x).mean(1)))

    folded, report = folded_exactly(TokenHead(), TOKENS, example_input=TOKENS)
    assert report.folded == [("classifier", "norm")] and batch_norms(folded) == 0


def test_without_an_example_input_the_norm_is_kept_with_the_reason():
    model = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 5))
    _, report = folded_exactly(model, FEATURES)
    assert not report.folded and report.reasons["0"] == (
        "before Linear 1, but its input's shape is not known (no example input): "
        "a batch norm scales dim 1 and a Linear mixes the last"
    )


def test_an_example_input_that_does_not_run_is_a_reason():
    model = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 5))
    _, report = folded_exactly(model, FEATURES, example_input=torch.randn(4, 3))
    assert report.reasons["0"].startswith("before Linear 1, but the example input does not run: ")


class BatchNormReLU1d(nn.BatchNorm1d):
    """A batch norm that applies its activation after normalising, as timm's BatchNormAct2d."""

    def __init__(self, features):
        super().__init__(features)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


def test_an_activation_inside_the_norm_stops_a_fold_into_the_linear_after_it():
    model = nn.Sequential(BatchNormReLU1d(8), nn.Linear(8, 5))
    _, report = folded_exactly(model, FEATURES, example_input=FEATURES)
    assert report.reasons["0"] == "its ReLU comes between it and Linear 1"


def test_a_norm_with_an_activation_after_a_linear_folds_and_keeps_the_activation():
    model = nn.Sequential(nn.Linear(8, 6), BatchNormReLU1d(6))
    folded, report = folded_exactly(model, FEATURES, example_input=FEATURES)
    assert report.folded == [("0", "1")] and type(folded[1]) is nn.ReLU


def test_a_linear_that_uses_its_weights_otherwise_keeps_its_norm():
    class NormalisedLinear(nn.Linear):  # each output row of weights scaled to unit length
        def forward(self, x):
            return nn.functional.linear(x, self.weight / self.weight.norm(dim=1, keepdim=True), self.bias)

    model = nn.Sequential(nn.BatchNorm1d(8), NormalisedLinear(8, 5))
    _, report = folded_exactly(model, FEATURES, example_input=FEATURES)
    assert not report.folded
    assert report.reasons["0"].startswith("1 (NormalisedLinear) does not compute a plain linear map")


def test_a_norm_read_twice_or_a_linear_called_twice_is_not_folded():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.linear = nn.BatchNorm1d(8), nn.Linear(8, 8)
            self.after, self.head = nn.BatchNorm1d(8), nn.Linear(8, 8)

        def forward(self, x):
            y = self.norm(x)
            z = self.after(self.linear(x)) + self.linear(y)  # linear runs twice
            return self.head(y) + z  # y is read twice: by linear and by head

    folded, report = folded_exactly(Shared(), FEATURES, example_input=FEATURES)
    assert not report.folded and batch_norms(folded) == 2


def test_untraceable_model_folds_neighbours_in_a_sequential():
    class Untraceable(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 5))

        def forward(self, x):
            return self.head(x) if x.sum() > 0 else self.head(-x)  # data-dependent: fx cannot trace it

    folded, report = folded_exactly(Untraceable(), FEATURES, example_input=FEATURES)
    assert report.method == "sequential" and report.folded == [("head.1", "head.0")]


def test_the_fold_runs_at_the_original_dtype():
    model = randomise(nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 5))).double()
    x = FEATURES.double()
    folded, report = fold_batchnorm(model, x)
    assert report.folded and folded[1].weight.dtype == torch.float64
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-12, atol=1e-12)


class NormLinearHead(nn.Module):
    """RepViT-style: conv features, pooled to (N, C), then a batch norm and a Linear, twice, averaged."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 4))
        self.head_dist = nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 4))

    def forward(self, x):
        x = self.features(x).mean((2, 3))  # (N, C)
        return (self.head(x) + self.head_dist(x)) / 2


def test_optimize_with_an_example_input_leaves_no_batch_norm():
    model = randomise(NormLinearHead())
    x = torch.randn(2, 1, 9, 9, generator=torch.Generator().manual_seed(3))
    fast, report = optimize(model, dtype="float32", example_input=x)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-5, atol=1e-5)
    assert count_layers(fast.model) == (1, 0)
    assert ("head.1", "head.0") in report.fold.folded and ("head_dist.1", "head_dist.0") in report.fold.folded
    deployed, merges = reparameterize(fold_batchnorm(model, x)[0])
    assert count_layers(deployed) == (1, 0) and merges.norms == (0, 0)


HEAD = """
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(8),
                            nn.Linear(8, 4))
        net[3].running_mean.uniform_(-0.5, 0.5)
        net[3].running_var.uniform_(0.5, 1.5)
        return net
"""


def test_cli_optimize_folds_the_norm_into_the_linear_with_an_input_size(tmp_path, capsys):
    path = tmp_path / "head.py"
    path.write_text(textwrap.dedent(HEAD))
    assert main(["optimize", f"{path}:build", "--input", "1x8x8", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fold"]["folded"] == [["4", "3"]] and data["batch_norms"] == [1, 0]
