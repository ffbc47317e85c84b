"""GoogLeNet (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015).

The default is the BVLC Caffe model (`bvlc_googlenet`): every conv has a bias and a ReLU, the
"5×5" branches are real 5×5 convs, there is no batch norm, and local response normalisation
(size 5, alpha 1e-4, beta 0.75; parameter-free) follows pool1 and conv2 as in Caffe. Max pools
round up as Caffe does. Caffe's final 7×7 average pool is written as a global average pool,
identical at 224×224 and usable at other sizes. The auxiliary classifiers (after 4a and 4d)
are built only with `aux_logits=True` and read through `forward_with_aux`; `forward` always
returns the main logits.

`batch_norm=True` gives the batch-norm variant (conv → BN → ReLU, no conv biases, no LRN),
like torchvision's but with true 5×5 kernels. `naive=True` builds every Inception module
without its 1×1 reductions and pool projection, so the pooled input passes through and the
channel count grows from module to module.

Parameters at 1000 classes (pinned in tests/models/test_googlenet.py): 6,998,552 for the Caffe
layout, 7,005,832 with batch norm, 97,526,008 naive. torchvision's GoogLeNet has 6,624,904: it
uses batch norm and 3×3 kernels in the "5×5" branch.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from onebyone.layers import ConvNormAct, GlobalAvgPool, Inception, InceptionConfig, caffe_max_pool
from onebyone.models.registry import register_model

# Table 1 of the paper: (module, 1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool proj).
# A "pool" entry marks a 3×3 stride-2 max pool between modules.
INCEPTION_TABLE: tuple[tuple[str, InceptionConfig] | str, ...] = (
    ("inception3a", InceptionConfig(64, 96, 128, 16, 32, 32)),
    ("inception3b", InceptionConfig(128, 128, 192, 32, 96, 64)),
    "pool3",
    ("inception4a", InceptionConfig(192, 96, 208, 16, 48, 64)),
    ("inception4b", InceptionConfig(160, 112, 224, 24, 64, 64)),
    ("inception4c", InceptionConfig(128, 128, 256, 24, 64, 64)),
    ("inception4d", InceptionConfig(112, 144, 288, 32, 64, 64)),
    ("inception4e", InceptionConfig(256, 160, 320, 32, 128, 128)),
    "pool4",
    ("inception5a", InceptionConfig(256, 160, 320, 32, 128, 128)),
    ("inception5b", InceptionConfig(384, 192, 384, 48, 128, 128)),
)
STEM_CHANNELS = (64, 64, 192)  # conv1 7×7/2, conv2 1×1 reduce, conv2 3×3
AUX_AFTER = ("inception4a", "inception4d")


class AuxClassifier(nn.Module):
    """Caffe's auxiliary head: 5×5/3 avg pool → 1×1 conv 128 → FC 1024 → dropout 0.7 → FC.

    Sized for the 14×14 maps of a 224×224 input (4×4 after the pool).
    """

    def __init__(self, in_channels: int, num_classes: int, *, batch_norm: bool) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3, ceil_mode=True)
        self.conv = ConvNormAct(in_channels, 128, 1, batch_norm=batch_norm, bn_eps=1e-3)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, 14, 14) -> (N, num_classes)
        x = self.conv(self.pool(x)).flatten(1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet; children `stem`, `inceptions` (with `pool3`, `pool4` between), `head`."""

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 1000,
        batch_norm: bool = False,
        naive: bool = False,
        aux_logits: bool = False,
        lrn: bool = True,
        dropout: float = 0.4,
    ) -> None:
        super().__init__()
        use_lrn = lrn and not batch_norm

        def unit(cin: int, cout: int, k: int, stride: int = 1) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, stride=stride, batch_norm=batch_norm, bn_eps=1e-3)

        def lrn_layer() -> nn.Module:
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75) if use_lrn else nn.Identity()

        c1, c2r, c2 = STEM_CHANNELS
        self.stem = nn.Sequential(
            OrderedDict(
                conv1=unit(in_channels, c1, 7, stride=2),
                pool1=caffe_max_pool(3, 2),
                norm1=lrn_layer(),
                conv2_reduce=unit(c1, c2r, 1),
                conv2=unit(c2r, c2, 3),
                norm2=lrn_layer(),
                pool2=caffe_max_pool(3, 2),
            )
        )
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        aux_channels = []
        channels = c2
        for entry in INCEPTION_TABLE:
            if isinstance(entry, str):
                blocks[entry] = caffe_max_pool(3, 2)
                continue
            name, config = entry
            module = Inception(channels, config.naive() if naive else config, batch_norm=batch_norm)
            blocks[name] = module
            channels = module.out_channels
            if name in AUX_AFTER:
                aux_channels.append(channels)
        self.inceptions = nn.Sequential(blocks)
        self.num_features = channels
        self.head = nn.Sequential(
            OrderedDict(
                pool=GlobalAvgPool(), dropout=nn.Dropout(dropout), fc=nn.Linear(channels, num_classes)
            )
        )
        self.aux = (
            nn.ModuleList(AuxClassifier(c, num_classes, batch_norm=batch_norm) for c in aux_channels)
            if aux_logits
            else None
        )

    def forward_features(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, 1024, H/32, W/32)
        return self.inceptions(self.stem(x))

    def forward_head(self, x: Tensor) -> Tensor:  # (N, 1024, h, w) -> (N, num_classes)
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Main logits and the auxiliary heads' logits (empty without `aux_logits`)."""
        aux_outputs: list[Tensor] = []
        x = self.stem(x)
        for name, block in self.inceptions.named_children():
            x = block(x)
            if self.aux is not None and name in AUX_AFTER:
                aux_outputs.append(self.aux[AUX_AFTER.index(name)](x))
        return self.forward_head(x), aux_outputs


@register_model(
    "googlenet",
    input_size=(3, 224, 224),
    description="GoogLeNet, BVLC Caffe layout (biases, true 5×5, LRN, no BN, no aux heads)",
)
def googlenet(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    batch_norm: bool = False,
    naive: bool = False,
    aux_logits: bool = False,
    lrn: bool = True,
    dropout: float = 0.4,
) -> GoogLeNet:
    """GoogLeNet.

    Args:
        num_classes: classes.
        in_channels: input channels.
        batch_norm: conv → BN → ReLU everywhere (no conv biases, no LRN).
        naive: Inception modules without 1×1 reductions (figure 2a of the paper).
        aux_logits: build the two auxiliary classifiers (see `forward_with_aux`).
        lrn: Caffe's local response normalisation after pool1 and conv2 (ignored with BN).
        dropout: dropout before the final Linear.
    """
    return GoogLeNet(
        in_channels=in_channels,
        num_classes=num_classes,
        batch_norm=batch_norm,
        naive=naive,
        aux_logits=aux_logits,
        lrn=lrn,
        dropout=dropout,
    )
