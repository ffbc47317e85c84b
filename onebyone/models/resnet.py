"""ResNet-18/34/50/101/152 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

torchvision's layout (bottleneck stride on the 3×3 conv, "v1.5"; 1×1 conv + BN projection
shortcuts), so the parameter counts equal torchvision's. Depths are rows of `RESNET_CONFIGS`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.layers import BasicBlock, Bottleneck, GlobalAvgPool
from onebyone.models.registry import register_model

BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


@dataclass(frozen=True)
class ResNetConfig:
    """Blocks per stage and the block kind; stage widths are 64, 128, 256, 512 (× expansion)."""

    layers: tuple[int, int, int, int]
    block: str  # "basic" or "bottleneck"
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    stem_channels: int = 64


RESNET_CONFIGS: dict[str, ResNetConfig] = {
    "resnet18": ResNetConfig((2, 2, 2, 2), "basic"),
    "resnet34": ResNetConfig((3, 4, 6, 3), "basic"),
    "resnet50": ResNetConfig((3, 4, 6, 3), "bottleneck"),
    "resnet101": ResNetConfig((3, 4, 23, 3), "bottleneck"),
    "resnet152": ResNetConfig((3, 8, 36, 3), "bottleneck"),
}


class ResNet(nn.Module):
    """Stem (7×7/2 conv, BN, ReLU, 3×3/2 max pool), `layer1`…`layer4`, GAP + Linear head."""

    # registered by name in __init__ (add_module), so declared here for the type checker
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(self, config: ResNetConfig, *, in_channels: int = 3, num_classes: int = 1000) -> None:
        super().__init__()
        if config.block not in BLOCKS:
            raise OneByOneError(f"ResNet block must be one of {sorted(BLOCKS)}, got {config.block!r}")
        block = BLOCKS[config.block]
        self.config = config
        stem = config.stem_channels
        self.stem = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False),
                bn1=nn.BatchNorm2d(stem),
                relu=nn.ReLU(inplace=True),
                maxpool=nn.MaxPool2d(3, stride=2, padding=1),
            )
        )
        channels = stem
        for index, (depth, width) in enumerate(zip(config.layers, config.widths, strict=True), start=1):
            blocks = []
            for position in range(depth):
                stride = 2 if index > 1 and position == 0 else 1
                blocks.append(block(channels, width, stride=stride))
                channels = blocks[-1].out_channels
            self.add_module(f"layer{index}", nn.Sequential(*blocks))
        self.num_features = channels
        self.head = nn.Sequential(OrderedDict(pool=GlobalAvgPool(), fc=nn.Linear(channels, num_classes)))

    def forward_features(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, 512·e, H/32, W/32)
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: Tensor) -> Tensor:  # (N, 512·e, h, w) -> (N, num_classes)
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _build(name: str, *, num_classes: int, in_channels: int) -> ResNet:
    return ResNet(RESNET_CONFIGS[name], in_channels=in_channels, num_classes=num_classes)


@register_model("resnet18", input_size=(3, 224, 224), description="ResNet-18: basic blocks (2, 2, 2, 2)")
def resnet18(*, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-18, torchvision layout (11,689,512 parameters at 1000 classes)."""
    return _build("resnet18", num_classes=num_classes, in_channels=in_channels)


@register_model("resnet34", input_size=(3, 224, 224), description="ResNet-34: basic blocks (3, 4, 6, 3)")
def resnet34(*, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-34, torchvision layout (21,797,672 parameters at 1000 classes)."""
    return _build("resnet34", num_classes=num_classes, in_channels=in_channels)


@register_model(
    "resnet50", input_size=(3, 224, 224), description="ResNet-50 (v1.5): bottleneck blocks (3, 4, 6, 3)"
)
def resnet50(*, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-50 v1.5, torchvision layout (25,557,032 parameters at 1000 classes)."""
    return _build("resnet50", num_classes=num_classes, in_channels=in_channels)


@register_model(
    "resnet101", input_size=(3, 224, 224), description="ResNet-101 (v1.5): bottleneck blocks (3, 4, 23, 3)"
)
def resnet101(*, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-101 v1.5, torchvision layout (44,549,160 parameters at 1000 classes)."""
    return _build("resnet101", num_classes=num_classes, in_channels=in_channels)


@register_model(
    "resnet152", input_size=(3, 224, 224), description="ResNet-152 (v1.5): bottleneck blocks (3, 8, 36, 3)"
)
def resnet152(*, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-152 v1.5, torchvision layout (60,192,808 parameters at 1000 classes)."""
    return _build("resnet152", num_classes=num_classes, in_channels=in_channels)
