"""K seeds trained as one grouped network agree, seed by seed, with K ordinary trainings (fp32)."""

import pytest
import torch

import onebyone.train.grouped_model as grouped_model
from onebyone.errors import OneByOneError
from onebyone.models import create_model
from onebyone.runs import open_run
from onebyone.train.grouped_model import group_models, split_state
from onebyone.train.seeds import train_seeds
from tests.train.small import small_config

SEEDS = [0, 1, 2]
# Two steps of the FC head with dropout (per-seed masks, the grouped Linear) and batch norm, in fp32.
# Grouped convs sum in another order than single ones (gradients agree to ~1e-6 after one step);
# a max-pool window whose two largest values differ by that rounding then sends its gradient to
# the other pixel, so weights move apart by up to ~1e-3 after two steps at the peak lr. A wrong
# mask or another seed's data moves them by ~1 (checked below), far outside this tolerance.
TOLERANCE = dict(rtol=2e-3, atol=3e-3)


def two_step_config(tmp_path, name):
    overrides = {"width": 0.25, "head": "fc"}
    return small_config(
        precision="fp32", model_overrides=overrides, subset=64, val_size=32, epochs=1,
        test_size=64, out=str(tmp_path / name),
    )  # fmt: skip


def test_grouped_and_separate_training_agree_per_seed(tmp_path):
    separate = train_seeds(two_step_config(tmp_path, "separate"), SEEDS)
    grouped = train_seeds(two_step_config(tmp_path, "grouped"), SEEDS, grouped=True)
    for alone, together in zip(separate, grouped, strict=True):
        assert together.config.seed == alone.config.seed
        expected, got = alone.model.state_dict(), together.model.state_dict()
        assert expected.keys() == got.keys()
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], **TOLERANCE, msg=name)
        row_alone, row_together = alone.history[0], together.history[0]
        assert row_together["step"] == row_alone["step"] == 2
        assert row_together["train_loss"] == pytest.approx(row_alone["train_loss"], rel=1e-5)
        # the run folder is an ordinary training run, holding the weights the result holds
        folder = tmp_path / "grouped" / f"seed{alone.config.seed}"
        run = open_run(folder)
        assert run.config.seed == alone.config.seed
        for name, value in run.model().state_dict().items():
            assert torch.equal(value, got[name]), name


def test_the_tolerance_tells_a_wrong_dropout_mask_from_rounding(tmp_path, monkeypatch):
    separate = train_seeds(two_step_config(tmp_path, "separate"), SEEDS)
    original = grouped_model.GroupedDropout.__init__

    def seed_0_masks_for_all(self, p, generators):
        original(self, p, [generators[0]] * len(generators))

    monkeypatch.setattr(grouped_model.GroupedDropout, "__init__", seed_0_masks_for_all)
    wrong = train_seeds(two_step_config(tmp_path, "wrong"), SEEDS, grouped=True)
    for alone, together in zip(separate[1:], wrong[1:], strict=True):
        weight = "features.stage1.conv.conv.weight"
        difference = (alone.model.state_dict()[weight] - together.model.state_dict()[weight]).abs().max()
        assert difference > 30 * TOLERANCE["atol"]


def test_split_state_gives_back_each_copy_exactly():
    models = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        models.append(create_model("nin-fashion", width=0.25, head="fc"))
    net = group_models(models, [torch.Generator() for _ in SEEDS])
    for model, state in zip(models, split_state(net, models[0].state_dict(), len(SEEDS)), strict=True):
        for name, value in model.state_dict().items():
            assert torch.equal(state[name], value), name
    x = torch.randn(4, len(SEEDS), 28, 28)  # (B, K·C, H, W): seed k's image in channel k
    logits = net.eval()(x).view(4, len(SEEDS), 10)  # (B, K, classes)
    for index, model in enumerate(models):
        torch.testing.assert_close(logits[:, index], model.eval()(x[:, index : index + 1]))


def test_grouped_training_refuses_what_it_cannot_keep_per_seed(tmp_path):
    with pytest.raises(OneByOneError, match="does not take ema_decay"):
        train_seeds(small_config(ema_decay=0.9), SEEDS, grouped=True)
    with pytest.raises(OneByOneError, match="distinct seeds"):
        train_seeds(small_config(), [1, 1])
    with pytest.raises(OneByOneError, match="cannot group"):
        group_models([torch.nn.Sequential(torch.nn.LayerNorm(3))], [torch.Generator()])
