"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012), in torchvision's single-tower layout.

Kept for comparisons (claim C7: GoogLeNet's parameters against AlexNet's). 61,100,840
parameters at 1000 classes. An adaptive 6×6 average pool before the classifier lets it run
on inputs from 63×63 up.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from onebyone.models.registry import register_model

# (out_channels, kernel, stride, padding, max pool after)
FEATURES: tuple[tuple[int, int, int, int, bool], ...] = (
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, True),
)
HIDDEN = 4096


class AlexNet(nn.Module):
    """Five convs (ReLU after each, three overlapping 3×3/2 max pools) and three FC layers."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        for index, (out_channels, kernel, stride, padding, pool) in enumerate(FEATURES, start=1):
            layers[f"conv{index}"] = nn.Conv2d(channels, out_channels, kernel, stride=stride, padding=padding)
            layers[f"relu{index}"] = nn.ReLU(inplace=True)
            if pool:
                layers[f"pool{index}"] = nn.MaxPool2d(3, stride=2)
            channels = out_channels
        self.features = nn.Sequential(layers)
        self.head = nn.Sequential(
            OrderedDict(
                pool=nn.AdaptiveAvgPool2d(6),
                flatten=nn.Flatten(1),
                dropout1=nn.Dropout(dropout),
                fc1=nn.Linear(channels * 6 * 6, HIDDEN),
                relu1=nn.ReLU(inplace=True),
                dropout2=nn.Dropout(dropout),
                fc2=nn.Linear(HIDDEN, HIDDEN),
                relu2=nn.ReLU(inplace=True),
                fc3=nn.Linear(HIDDEN, num_classes),
            )
        )

    def forward_features(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, 256, h, w)
        return self.features(x)

    def forward_head(self, x: Tensor) -> Tensor:  # (N, 256, h, w) -> (N, num_classes)
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    "alexnet",
    input_size=(3, 224, 224),
    description="AlexNet, torchvision's single-tower layout (for parameter comparisons)",
)
def alexnet(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    """AlexNet with torchvision's layer sizes (61,100,840 parameters at 1000 classes)."""
    return AlexNet(in_channels=in_channels, num_classes=num_classes, dropout=dropout)
