"""freeze_for_cpu: the frozen TorchScript copy computes what the model computes, at any batch size,
on zoo models and on factorised ones; an untraceable model gives a one-line error."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from onebyone.deploy import freeze_for_cpu
from onebyone.errors import OneByOneError
from onebyone.models import create_model
from onebyone.surgery import factorize


def _with_running_stats(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("channels_last", [True, False])
def test_frozen_nin_equals_eager_at_other_batch_sizes(channels_last):
    model = _with_running_stats(create_model("nin-fashion", width=0.5))
    frozen = freeze_for_cpu(model, (8, 1, 28, 28), channels_last=channels_last)
    for batch in (1, 8, 13):
        x = torch.randn(batch, 1, 28, 28)
        with torch.no_grad():
            assert_close(frozen(x), model(x), rtol=1e-4, atol=1e-4)
    assert model.training is False and isinstance(model.features.stage1.conv.bn, nn.BatchNorm2d)


def test_frozen_factorised_model_equals_eager():
    model = _with_running_stats(create_model("nin-fashion", width=0.5))
    factorised, _ = factorize(model, 0.4, input_shape=(1, 28, 28))
    frozen = freeze_for_cpu(factorised, (4, 1, 28, 28))
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert_close(frozen(x), factorised.eval()(x), rtol=1e-4, atol=1e-4)


def test_a_model_that_cannot_be_traced_is_named():
    class ReturnsShape(nn.Module):
        def forward(self, x):
            return {"size": str(x.shape)}

    with pytest.raises(OneByOneError, match="cannot freeze ReturnsShape"):
        freeze_for_cpu(ReturnsShape(), (1, 1, 4, 4))
