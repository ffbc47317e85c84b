"""Network in Network (Lin, Chen and Yan, "Network In Network", ICLR 2014).

A NIN is a stack of mlpconv stages (a k×k conv followed by 1×1 "cccp" convs, ReLU after
each), with pooling between stages and a global-average-pooling head: the last 1×1 conv
outputs one map per class and the pool turns each map into a score. Pools round up as in
Caffe, the framework the reference models were defined in.

Variants are rows of `NIN_CONFIGS`; the builders only change a row's fields.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn
from torch.fx import Proxy

from onebyone.errors import OneByOneError
from onebyone.layers import GlobalAvgPool, MLPConv
from onebyone.models.registry import register_model


@dataclass(frozen=True)
class StageConfig:
    """One mlpconv stage and the pooling and dropout that follow it.

    `pointwise_channels` are the widths of the 1×1 layers. In the last stage with a GAP head
    the last width is replaced by the number of classes.
    """

    conv_channels: int
    kernel_size: int
    pointwise_channels: tuple[int, ...]
    stride: int = 1
    padding: int = 0
    pool: str | None = "max"  # "max", "avg", or None: pooling after the stage
    dropout: float = 0.0  # after the pool


@dataclass(frozen=True)
class NINConfig:
    """A whole NIN: stages, pooling geometry, head."""

    stages: tuple[StageConfig, ...]
    pool_kernel: int = 3
    pool_stride: int = 2
    head: str = "gap"  # "gap": last 1×1 gives the classes, then average pool; "fc": flatten → Linear
    head_pool: int | None = None  # fixed average-pool window (Caffe's 6×6 pool4); None = global
    fc_dropout: float = 0.5  # dropout before the Linear of the "fc" head
    batch_norm: bool = False
    image_size: int = 32  # input side, needed only to size the Linear of the "fc" head
    pointwise_relu: bool = True  # False: a ReLU only at each stage's end (MLPConv.activation_last_only)


NIN_CONFIGS: dict[str, NINConfig] = {
    # Caffe model zoo NIN for ImageNet (crop 224 or 227); ReLU after every conv, cccp8 included.
    "nin-imagenet": NINConfig(
        stages=(
            StageConfig(96, 11, (96, 96), stride=4),
            StageConfig(256, 5, (256, 256), padding=2),
            StageConfig(384, 3, (384, 384), padding=1, dropout=0.5),
            StageConfig(1024, 3, (1024, 1024), padding=1, pool=None),
        ),
        head_pool=6,
    ),
    # The paper's CIFAR-10 network. The builder's `second_pool` (default "avg", as in
    # CLAIMS.md and the Caffe zoo port; "max" in the author's own configuration) sets pool 2.
    "nin-cifar": NINConfig(
        stages=(
            StageConfig(192, 5, (160, 96), padding=2, dropout=0.5),
            StageConfig(192, 5, (192, 192), padding=2, dropout=0.5),
            StageConfig(192, 3, (192, 192), padding=1, pool=None),
        ),
    ),
    # Small default for 28×28×1 Fashion-MNIST: nin-cifar's three stages with 3×3 kernels,
    # batch norm and no dropout (measured better than the half-width 5×5 row with dropout 0.3
    # at the same MACs; README, "nin-fashion on Fashion-MNIST"). 28 → 14 → 7 with ceil pooling.
    "nin-fashion": NINConfig(
        stages=(
            StageConfig(96, 3, (96, 64), padding=1),
            StageConfig(128, 3, (128, 128), padding=1),
            StageConfig(128, 3, (128, 128), padding=1, pool=None),
        ),
        batch_norm=True,
        image_size=28,
    ),
}


def _pooled(size: int, kernel: int, stride: int) -> int:
    """Caffe's pooled size (ceil), padding 0."""
    return math.ceil((size - kernel) / stride) + 1


class NIN(nn.Module):
    """Network in Network built from a `NINConfig`.

    Children: `features` (`stage1`, `pool1`, `stage2`, …; each stage an `MLPConv` whose
    children are `conv`, `pointwise1`, `pointwise2`) and `head`.
    """

    def __init__(self, config: NINConfig, *, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        if config.head not in ("gap", "fc"):
            raise OneByOneError(f"NIN head must be 'gap' or 'fc', got {config.head!r}")
        if in_channels < 1 or num_classes < 1:
            raise OneByOneError(f"in_channels and num_classes must be ≥ 1, got {in_channels}, {num_classes}")
        self.config = config
        self.num_classes = num_classes
        features: OrderedDict[str, nn.Module] = OrderedDict()
        channels, size = in_channels, config.image_size
        for index, stage in enumerate(config.stages, start=1):
            last = index == len(config.stages)
            pointwise = list(stage.pointwise_channels)
            conv_channels = stage.conv_channels
            if last and config.head == "gap":  # the last conv of the net outputs the classes
                if pointwise:
                    pointwise[-1] = num_classes
                else:
                    conv_channels = num_classes
            block = MLPConv(
                channels,
                conv_channels,
                stage.kernel_size,
                pointwise,
                stride=stage.stride,
                padding=stage.padding,
                batch_norm=config.batch_norm,
                activation_last_only=not config.pointwise_relu,
            )
            features[f"stage{index}"] = block
            channels = block.out_channels
            size = (size + 2 * stage.padding - stage.kernel_size) // stage.stride + 1
            if stage.pool is not None:
                features[f"pool{index}"] = _make_pool(stage.pool, config.pool_kernel, config.pool_stride)
                size = _pooled(size, config.pool_kernel, config.pool_stride)
            if stage.dropout > 0:
                features[f"dropout{index}"] = nn.Dropout(stage.dropout)
        self.features = nn.Sequential(features)
        self.num_features = channels
        if config.head == "gap":
            pool = GlobalAvgPool() if config.head_pool is None else nn.AvgPool2d(config.head_pool, stride=1)
            self.head = nn.Sequential(OrderedDict(pool=pool, flatten=nn.Flatten(1)))
        else:
            if size < 1:
                raise OneByOneError(f"image_size {config.image_size} is too small for this NIN")
            self.head = nn.Sequential(
                OrderedDict(
                    flatten=nn.Flatten(1),
                    dropout=nn.Dropout(config.fc_dropout),
                    fc=nn.Linear(channels * size * size, num_classes),
                )
            )

    def forward_features(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, C', H', W')
        return self.features(x)

    def forward_head(self, x: Tensor) -> Tensor:  # (N, C', H', W') -> (N, num_classes)
        window = self.config.head_pool
        if window is not None and not isinstance(x, Proxy) and tuple(x.shape[-2:]) != (window, window):
            # Caffe's fixed pool4 turns only a window×window map into one score per class;
            # anything else would be flattened into a wrong-sized vector.
            raise OneByOneError(
                f"the {window}×{window} average-pool head needs a {window}×{window} feature map, got "
                f"{tuple(x.shape[-2:])}; use an input of the design size (224 or 227 for nin-imagenet)"
            )
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _make_pool(kind: str, kernel: int, stride: int) -> nn.Module:
    pools: dict[str, Callable[..., nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
    if kind in pools:
        return pools[kind](kernel, stride=stride, ceil_mode=True)
    raise OneByOneError(f"pool kind must be 'max' or 'avg', got {kind!r}")


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def _small_nin(
    config: NINConfig,
    *,
    in_channels: int,
    num_classes: int,
    width: float,
    batch_norm: bool,
    head: str,
    image_size: int,
    pointwise_layers: int,
    second_pool: str,
    dropout: float | None,
    init: str,
    **rows,
) -> NIN:
    """Apply the CIFAR-style options to a config row (and `rows`: NINConfig fields) and build it."""
    if init not in INITS:
        raise OneByOneError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if width <= 0:
        raise OneByOneError(f"width must be > 0, got {width}")
    if not 0 <= pointwise_layers <= MAX_POINTWISE_LAYERS:  # bounds the (meta) build's time too
        raise OneByOneError(
            f"pointwise_layers must be from 0 to {MAX_POINTWISE_LAYERS}, got {pointwise_layers}"
        )
    if second_pool not in ("max", "avg"):
        raise OneByOneError(f"second_pool must be 'max' or 'avg', got {second_pool!r}")
    if dropout is not None and not 0 <= dropout < 1:
        raise OneByOneError(f"dropout must be in [0, 1), got {dropout}")
    if image_size < 1:
        raise OneByOneError(f"image_size must be ≥ 1, got {image_size}")
    stages = []
    for index, stage in enumerate(config.stages):
        # n 1×1 layers: the first width repeated, the stage's output width last.
        widths = stage.pointwise_channels
        pointwise = (widths[0],) * (pointwise_layers - 1) + (widths[-1],) if pointwise_layers else ()
        stages.append(
            dataclasses.replace(
                stage,
                conv_channels=_scaled(stage.conv_channels, width),
                pointwise_channels=tuple(_scaled(c, width) for c in pointwise),
                pool=second_pool if index == 1 and stage.pool else stage.pool,
                dropout=stage.dropout if dropout is None or stage.pool is None else dropout,
            )
        )
    config = dataclasses.replace(
        config,
        stages=tuple(stages),
        batch_norm=batch_norm,
        head=head,
        image_size=image_size,
        fc_dropout=config.fc_dropout if dropout is None else dropout,
        **rows,
    )
    model = NIN(config, in_channels=in_channels, num_classes=num_classes)
    if init == "he":
        he_init(model)
    return model


INITS = ("torch", "he")
MAX_POINTWISE_LAYERS = 64  # 1×1 layers per mlpconv: the paper has 2; 2,000 took 12.5 s to profile


def he_init(model: nn.Module) -> None:
    """Every conv He-initialised (normal, fan-in, ReLU gain) with zero biases, in place.

    Without batch norm, torch's default conv init shrinks the signal at every ReLU and the nine-conv
    nin-fashion stays at chance level (measured: the loss sits at ln 10 for 15 epochs); the NIN
    paper's Caffe models set each layer's initial scale by hand to the same end.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


@register_model(
    "nin-imagenet",
    input_size=(3, 224, 224),
    description="Caffe-zoo NIN for ImageNet: 4 mlpconv stages, 6×6 average-pool head (224/227)",
)
def nin_imagenet(*, num_classes: int = 1000, in_channels: int = 3) -> NIN:
    """The Caffe model-zoo NIN (conv1 11/4 … cccp8, pool4 6×6 average), exactly."""
    return NIN(NIN_CONFIGS["nin-imagenet"], in_channels=in_channels, num_classes=num_classes)


@register_model(
    "nin-cifar",
    input_size=(3, 32, 32),
    description="The NIN paper's CIFAR-10 network (192/160/96, 192/192/192, 192/192/10, GAP)",
)
def nin_cifar(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    batch_norm: bool = False,
    head: str = "gap",
    image_size: int = 32,
    pointwise_layers: int = 2,
    second_pool: str = "avg",
    dropout: float = 0.5,
    init: str = "torch",
    pointwise_relu: bool = True,
) -> NIN:
    """The paper's CIFAR-10 NIN.

    Args:
        num_classes: classes (the last 1×1's width with the GAP head).
        in_channels: input channels.
        width: multiplier on every hidden width (not on num_classes).
        batch_norm: BN after every conv (not in the paper).
        head: "gap" (paper) or "fc": the last 1×1 keeps its hidden width and a
            flatten → dropout → Linear(C·H·W, num_classes) head follows.
        image_size: input side; sizes the Linear of the "fc" head.
        pointwise_layers: 1×1 layers per mlpconv (0: plain conv stages, the last conv
            outputs the classes).
        second_pool: "avg" (as in CLAIMS.md and the Caffe zoo port, the default) or "max"
            (the author's own cuda-convnet configuration); parameters are the same.
        dropout: dropout after the pooled (first two) stages, and before the FC head's Linear.
        init: "torch" (PyTorch's default init) or "he" (He-normal convs, zero biases: what a NIN
            without batch norm needs to train).
        pointwise_relu: False keeps the 1×1 layers but a ReLU only at each stage's end, so every
            mlpconv is linear up to it (C3's parameter-matched control: same parameters).
    """
    return _small_nin(
        NIN_CONFIGS["nin-cifar"],
        in_channels=in_channels,
        num_classes=num_classes,
        width=width,
        batch_norm=batch_norm,
        head=head,
        image_size=image_size,
        pointwise_layers=pointwise_layers,
        second_pool=second_pool,
        dropout=dropout,
        init=init,
        pointwise_relu=pointwise_relu,
    )


@register_model(
    "nin-fashion",
    input_size=(1, 28, 28),
    description="Small NIN for 28×28×1 Fashion-MNIST (3×3 mlpconv stages, batch norm, GAP)",
)
def nin_fashion(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    width: float = 1.0,
    batch_norm: bool = True,
    head: str = "gap",
    image_size: int = 28,
    pointwise_layers: int = 2,
    second_pool: str = "max",
    dropout: float | None = None,
    init: str = "torch",
    pointwise_relu: bool = True,
) -> NIN:
    """The `nin-fashion` row of NIN_CONFIGS; options as for `nin_cifar` (dropout None: the row's, none)."""
    return _small_nin(
        NIN_CONFIGS["nin-fashion"],
        in_channels=in_channels,
        num_classes=num_classes,
        width=width,
        batch_norm=batch_norm,
        head=head,
        image_size=image_size,
        pointwise_layers=pointwise_layers,
        second_pool=second_pool,
        dropout=dropout,
        init=init,
        pointwise_relu=pointwise_relu,
    )
