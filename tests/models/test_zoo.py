"""Every registered model, automatically: forward, backward, the uniform API, the registry's errors."""

import functools

import pytest
import torch

from onebyone.errors import OneByOneError
from onebyone.models import create_model, get_model_entry, list_models
from onebyone.models.registry import model_options

CANDIDATE_SIZES = (8, 16, 24, 28, 32, 48, 64, 96, 128, 160, 192, 224)
BATCH = 2  # BN in training mode needs more than one value per channel


@functools.cache
def smallest_size(name: str, *, in_channels: int | None = None, min_feature_pixels: int = 1) -> int:
    """The smallest candidate input side the model accepts, probed on the meta device.

    `min_feature_pixels` asks for at least that many positions in `forward_features`' output:
    batch norm in training mode over a 1×1 map and a batch of 2 normalises just two values,
    which in a 150-layer net can blow the gradients up.
    """
    options = {} if in_channels is None else {"in_channels": in_channels}
    channels = in_channels or get_model_entry(name).input_size[0]
    with torch.device("meta"):
        model = create_model(name, **options)
        for size in CANDIDATE_SIZES:
            try:
                features = model.forward_features(torch.empty(BATCH, channels, size, size))
                model.forward_head(features)
            except (RuntimeError, ValueError):
                continue
            if features.shape[-2] * features.shape[-1] >= min_feature_pixels:
                return size
    raise AssertionError(f"{name} accepts none of {CANDIDATE_SIZES}")


def test_zoo_lists_the_expected_models():
    expected = {"alexnet", "googlenet", "nin-cifar", "nin-fashion", "nin-imagenet"}
    expected |= {f"resnet{depth}" for depth in (18, 34, 50, 101, 152)}
    expected |= {f"efficientnet-lite{size}" for size in (0, 1, 2)}
    assert set(list_models()) == expected


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_and_uniform_api(name):
    torch.manual_seed(0)
    entry = get_model_entry(name)
    channels = entry.input_size[0]
    size = smallest_size(name, min_feature_pixels=4)
    model = create_model(name)
    num_classes = model_options(name)["num_classes"].default
    x = torch.randn(BATCH, channels, size, size)

    out = model(x)
    assert out.shape == (BATCH, num_classes)
    out.float().pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: no finite gradient for {missing[:5]}"

    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(model.forward_features(x)), model(x))


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_typed_keyword_only_options(name):
    options = model_options(name)
    assert {"num_classes", "in_channels"} <= set(options)
    for option in options.values():
        assert option.kind is option.KEYWORD_ONLY, f"{name}.{option.name} must be keyword-only"
        assert option.annotation is not option.empty, f"{name}.{option.name} has no type"


@pytest.mark.parametrize("name", list_models())
def test_create_model_with_overrides(name):
    size = smallest_size(name, in_channels=1)
    with torch.device("meta"):
        model = create_model(name, num_classes=7, in_channels=1)
        out = model.eval()(torch.empty(BATCH, 1, size, size))
    assert tuple(out.shape) == (BATCH, 7)


@pytest.mark.parametrize(
    "typo, suggestion", [("resnet5", "resnet50"), ("nin_cifar", "nin-cifar"), ("googlnet", "googlenet")]
)
def test_unknown_model_suggests_close_matches(typo, suggestion):
    with pytest.raises(OneByOneError, match=f"unknown model '{typo}'.*did you mean.*{suggestion}"):
        create_model(typo)


def test_unknown_option_lists_valid_options():
    message = r"no option 'num_class'.*valid options: .*num_classes.*in_channels"
    with pytest.raises(OneByOneError, match=message):
        create_model("resnet18", num_class=3)
