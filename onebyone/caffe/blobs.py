"""Which tensors of a module hold each of its Caffe layer's blobs, in Caffe's order and shapes.

Convolution: weight (out, in/group, kh, kw), bias (out). Deconvolution: weight (in, out/group, kh, kw)
— torch's ConvTranspose2d layout. InnerProduct: weight (N, K), or (K, N) with `transpose: true`.
BatchNorm: mean, variance and a one-value scale factor that both are divided by (Caffe stores
running sums; a factor of 0 means zero statistics). Scale/Bias: γ then β. PReLU: the slopes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from onebyone.caffe.layers import InnerProduct, Scale


@dataclass
class BlobTarget:
    """A tensor a blob is read into, the blob shape Caffe expects, and what to do once it is read."""

    tensor: torch.Tensor
    caffe_shape: tuple[int, ...]
    finish: Callable[[], None] = field(default=lambda: None)


def caffe_blobs(module: nn.Module) -> list[BlobTarget]:
    """The blob targets of one layer's module ([] for a layer without parameters)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return _weight_and_bias(module, tuple(module.weight.shape))
    if isinstance(module, InnerProduct):
        if getattr(module, "caffe_transposed", False):
            stored = torch.empty(module.in_features, module.out_features)

            def transpose() -> None:
                module.weight.data.copy_(stored.t())

            targets = [BlobTarget(stored, tuple(stored.shape), transpose)]
            if module.bias is not None:
                targets.append(BlobTarget(module.bias.data, tuple(module.bias.shape)))
            return targets
        return _weight_and_bias(module, tuple(module.weight.shape))
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
        factor = torch.empty(1)

        def unscale() -> None:
            value = factor.item()
            scale = 0.0 if value == 0 else 1.0 / value
            module.running_mean.mul_(scale)
            module.running_var.mul_(scale)

        channels = (module.num_features,)
        return [
            BlobTarget(module.running_mean, channels),
            BlobTarget(module.running_var, channels),
            BlobTarget(factor, (1,), unscale),
        ]
    if isinstance(module, Scale):
        return [BlobTarget(t.data, module.shape) for t in (module.weight, module.bias) if t is not None]
    if isinstance(module, nn.PReLU):
        shape = (
            ()
            if module.num_parameters == 1 and getattr(module, "caffe_shared", False)
            else tuple(module.weight.shape)
        )
        return [BlobTarget(module.weight.data, shape)]
    return []


def _weight_and_bias(module: nn.Module, weight_shape: tuple[int, ...]) -> list[BlobTarget]:
    targets = [BlobTarget(module.weight.data, weight_shape)]
    if module.bias is not None:
        targets.append(BlobTarget(module.bias.data, tuple(module.bias.shape)))
    return targets
