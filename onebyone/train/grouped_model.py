"""K copies of one network as one network whose layers are grouped K ways.

K seeds of a small model cost K times the per-operation overhead when trained one after the other;
as one model they pay it once. Every layer of the copies becomes one layer over K·C channels that
never mixes the copies: a k×k conv becomes a conv with K times the groups over the K stacked inputs,
batch norm runs over K·C channels (its statistics are per channel, so per copy), a Linear becomes a
grouped 1×1 conv (K fully connected layers are one grouped 1×1 convolution), dropout draws each
copy's mask from that copy's own generator. Elementwise and per-channel layers (ReLU, pooling,
flatten) are shared as they are. `split_state` turns the grouped weights back into K ordinary
state dicts, exactly (slices along the output channels).

Input: the K copies' inputs stacked on the channel axis, (B, K·C, H, W); output (B, K·classes),
copy k's logits in columns k·classes … (k+1)·classes − 1.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.layers.pooling import GlobalAvgPool
from onebyone.torch_typing import pair

# Layers without weights that act per channel and per image: the same module serves K copies.
SHARED = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Identity, GlobalAvgPool)


class GroupedLinear(nn.Conv2d):
    """K Linear(in, out) as one grouped 1×1 conv: (B, K·in) → (B, K·out)."""

    def __init__(self, linears: list[nn.Linear]) -> None:
        first = linears[0]
        k = len(linears)
        super().__init__(
            k * first.in_features, k * first.out_features, 1, groups=k, bias=first.bias is not None
        )
        with torch.no_grad():
            self.weight.copy_(torch.cat([m.weight for m in linears])[:, :, None, None])
            if self.bias is not None:
                self.bias.copy_(torch.cat([m.bias for m in linears]))

    def forward(self, x: Tensor) -> Tensor:  # (B, K·in) -> (B, K·out)
        return super().forward(x[:, :, None, None]).flatten(1)


class GroupedDropout(nn.Module):
    """Dropout of K copies, copy k's mask drawn from `generators[k]`, as `nn.Dropout` draws it.

    `F.dropout` on the CPU fills an `empty_like(input)` with Bernoulli draws and divides by 1 − p;
    this does the same on each copy's slice, laid out as the copy's own activation would be, so
    a copy trained here draws the masks it would draw trained alone from the same generator state.
    """

    def __init__(self, p: float, generators: list[torch.Generator]) -> None:
        super().__init__()
        self.p = p
        self.generators = generators

    def forward(self, x: Tensor) -> Tensor:  # (B, K·C, …) -> same
        if not self.training or self.p == 0:
            return x
        channels_last = x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        out = []
        for part, generator in zip(x.chunk(len(self.generators), dim=1), self.generators, strict=True):
            part = part.contiguous(memory_format=layout)
            noise = torch.empty_like(part).bernoulli_(1 - self.p, generator=generator).div_(1 - self.p)
            out.append(part * noise)
        return torch.cat(out, dim=1)


def _grouped_conv(convs: list[nn.Conv2d]) -> nn.Conv2d:
    first, k = convs[0], len(convs)
    if first.padding_mode != "zeros" or isinstance(first.padding, str):
        raise OneByOneError("grouped training supports zero-padded convs with numeric padding only")
    conv = nn.Conv2d(
        k * first.in_channels, k * first.out_channels, pair(first.kernel_size), stride=pair(first.stride),
        padding=pair(first.padding), dilation=pair(first.dilation), groups=k * first.groups,
        bias=first.bias is not None,
    )  # fmt: skip
    with torch.no_grad():
        conv.weight.copy_(torch.cat([c.weight for c in convs]))
        if conv.bias is not None:
            biases = [c.bias for c in convs if c.bias is not None]
            if len(biases) < k:
                raise OneByOneError("the copies differ in their conv biases: not copies of one network")
            conv.bias.copy_(torch.cat(biases))
    return conv


def _grouped_norm(norms: list[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    first, k = norms[0], len(norms)
    norm = nn.BatchNorm2d(
        k * first.num_features, eps=first.eps, momentum=first.momentum, affine=first.affine,
        track_running_stats=first.track_running_stats,
    )  # fmt: skip
    merged = {}
    for name in norm.state_dict():
        parts = [n.state_dict()[name] for n in norms]
        merged[name] = parts[0].clone() if name == "num_batches_tracked" else torch.cat(parts)
    norm.load_state_dict(merged)
    return norm


def _grouped_leaf(name: str, leaves: list[nn.Module], generators: list[torch.Generator]) -> nn.Module:
    first = leaves[0]
    if any(type(leaf) is not type(first) for leaf in leaves):
        raise OneByOneError(f"the copies differ at {name!r}: not copies of one network")
    # every leaf is of exactly type(first) (checked above): the isinstance filters keep them all
    if type(first) is nn.Conv2d:
        return _grouped_conv([leaf for leaf in leaves if isinstance(leaf, nn.Conv2d)])
    if type(first) is nn.BatchNorm2d:
        return _grouped_norm([leaf for leaf in leaves if isinstance(leaf, nn.BatchNorm2d)])
    if type(first) is nn.Linear:
        return GroupedLinear([leaf for leaf in leaves if isinstance(leaf, nn.Linear)])
    if type(first) is nn.Dropout:
        return GroupedDropout(first.p, generators)
    if isinstance(first, SHARED):
        return copy.deepcopy(first)
    raise OneByOneError(
        f"grouped training cannot group {type(first).__name__} ({name!r}): it knows Conv2d, "
        f"BatchNorm2d, Linear, Dropout and {', '.join(t.__name__ for t in SHARED)}"
    )


def group_models(models: list[nn.Module], generators: list[torch.Generator]) -> nn.Module:
    """One network computing the K `models` side by side (see the module docstring).

    The models must be copies of one architecture (same modules, same shapes); `generators[k]`
    draws model k's dropout masks. The result is in training mode, on the CPU, contiguous format.
    """
    if len(models) != len(generators) or not models:
        raise OneByOneError("group_models needs one generator per model, and at least one model")
    shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in models]
    if any(s != shapes[0] for s in shapes):
        raise OneByOneError("grouped training needs copies of one network (same layers and shapes)")
    grouped = copy.deepcopy(models[0]).cpu()
    for name, module in list(grouped.named_modules()):
        if name and not any(True for _ in module.children()):
            replacement = _grouped_leaf(name, [m.get_submodule(name) for m in models], generators)
            parent_name, _, child = name.rpartition(".")
            setattr(grouped.get_submodule(parent_name), child, replacement)
    return grouped.train()


def split_state(grouped: nn.Module, template: dict[str, Tensor], k: int) -> list[dict[str, Tensor]]:
    """The K ordinary state dicts of a grouped model; `template` is one copy's state dict (shapes)."""
    state = grouped.state_dict()
    if state.keys() != template.keys():
        raise OneByOneError("the grouped model's tensors do not match the template's")
    out: list[dict[str, Tensor]] = [{} for _ in range(k)]
    for name, value in state.items():
        shape = template[name].shape
        parts = [value] * k if name.endswith("num_batches_tracked") else value.chunk(k, dim=0)
        for index, part in enumerate(parts):
            out[index][name] = part.detach().reshape(shape).clone()
    return out
