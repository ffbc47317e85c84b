"""Activations of a model on real images: captured maps, and sparsity after every ReLU (claim C13).

Both use forward hooks on named modules, so they see every call of a module (a ReLU module used
twice in a residual block gives two entries: `layer1.0.relu` and `layer1.0.relu[1]`). Models run in
eval mode under no_grad; their train/eval flags are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from onebyone.errors import OneByOneError


def relu_layers(model: nn.Module) -> list[str]:
    """Paths of the model's nn.ReLU modules, in definition order."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.ReLU)]


def resolve_layers(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    """`layers` checked against the model's module paths; None: every nn.ReLU module."""
    modules = dict(model.named_modules())
    if layers is None:
        found = relu_layers(model)
        if not found:
            raise OneByOneError(
                f"{type(model).__name__} has no nn.ReLU module; name the layers to capture "
                "(functional relu calls are not modules and cannot be hooked)"
            )
        return found
    if isinstance(layers, str):
        layers = [layers]
    for name in layers:
        if name not in modules or name == "":
            examples = ", ".join(n for n in list(modules)[1:8] if n)
            raise OneByOneError(
                f"no layer {name!r} in {type(model).__name__}; layers are module paths such as {examples}"
            )
    return list(layers)


def _call_name(path: str, call: int) -> str:
    return path if call == 0 else f"{path}[{call}]"


@contextmanager
def _hooked(
    model: nn.Module, layers: list[str], on_output: Callable[[str, Tensor], None]
) -> Iterator[Callable[[], None]]:
    """Hooks on `layers` calling on_output(call_name, output); yields a function that starts a new
    forward pass (call counts restart). Eval mode and no_grad inside; the flags are restored."""
    modules = dict(model.named_modules())
    counts: dict[str, int] = {}

    def hook_for(path: str):
        def hook(module: nn.Module, args, output) -> None:
            call = counts.get(path, 0)
            counts[path] = call + 1
            if not isinstance(output, Tensor):
                raise OneByOneError(f"layer {path!r} returns {type(output).__name__}, not a tensor")
            on_output(_call_name(path, call), output)

        return hook

    modes = [(m, m.training) for m in model.modules()]
    handles = [modules[path].register_forward_hook(hook_for(path)) for path in layers]
    model.eval()
    try:
        with torch.no_grad():
            yield counts.clear
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training


def _check_images(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise OneByOneError(f"images must be a float tensor (N, C, H, W), got {shape}")
    return images


def capture_activations(
    model: nn.Module, images: Tensor, layers: Sequence[str] | None = None
) -> dict[str, Tensor]:
    """Output of each of `layers` for `images`, in call order.

    Args:
        model: any nn.Module.
        images: (N, C, H, W) float, already preprocessed as the model expects.
        layers: module paths (e.g. "features.stage2"); None: every nn.ReLU module, i.e. the
            activations after each ReLU.

    Returns:
        {name: (N, ...) tensor} on the CPU; a module called k > 1 times gives "path", "path[1]", ….
    """
    names = resolve_layers(model, layers)
    captured: dict[str, Tensor] = {}

    def keep(name: str, output: Tensor) -> None:
        # A copy: an inplace ReLU's output is changed by later inplace ops (`out += identity`).
        captured[name] = output.detach().float().cpu().clone()

    with _hooked(model, names, keep):
        model(_check_images(images))
    return captured


@dataclass
class SparsityRow:
    """One ReLU call: how many of its outputs are exactly zero, over all images measured."""

    layer: str  # module path ("features.stage1.conv.act"), "[k]" for the k-th extra call
    depth: int  # 1 for the first ReLU the forward pass runs, 2 for the next, …
    zero_fraction: float  # exactly-zero outputs / all outputs
    mean_activation: float  # mean output value
    numel: int  # outputs counted (images × values per image)
    shape: list[int]  # output shape of one image, e.g. [96, 28, 28]


@dataclass
class SparsityResult:
    """Sparsity by depth of one model on one set of images."""

    model: str
    images: int
    rows: list[SparsityRow] = field(default_factory=list)

    @property
    def slope(self) -> float:
        """Least-squares slope of zero_fraction against depth (> 0: sparser with depth)."""
        if len(self.rows) < 2:
            return 0.0
        depths = torch.tensor([r.depth for r in self.rows], dtype=torch.float64)
        zeros = torch.tensor([r.zero_fraction for r in self.rows], dtype=torch.float64)
        centred = depths - depths.mean()
        return float((centred * (zeros - zeros.mean())).sum() / (centred**2).sum())

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "images": self.images,
            "slope": self.slope,
            "rows": [asdict(r) for r in self.rows],
        }


def measure_sparsity(
    model: nn.Module, images: Tensor, batch_size: int = 256, *, name: str | None = None
) -> SparsityResult:
    """Fraction of exactly-zero activations and mean activation after every nn.ReLU module.

    Args:
        model: a model with nn.ReLU modules (their outputs are hooked; inplace ReLUs are fine,
            the counts are taken when the ReLU returns).
        images: (N, C, H, W) float, preprocessed as the model expects, e.g. a test set.
        batch_size: images per forward pass.
        name: model label for reports (default: the class name).
    """
    if batch_size < 1:
        raise OneByOneError(f"batch_size must be ≥ 1, got {batch_size}")
    images = _check_images(images)
    if images.shape[0] == 0:
        raise OneByOneError("no images to measure sparsity on")
    names = resolve_layers(model, None)
    totals: dict[str, list] = {}  # call name -> [zeros, sum, numel, shape], in first-call order

    def count(call_name: str, output: Tensor) -> None:
        values = output.detach()
        entry = totals.setdefault(call_name, [0, 0.0, 0, list(values.shape[1:])])
        entry[0] += int((values == 0).sum())
        entry[1] += float(values.double().sum())
        entry[2] += values.numel()

    with _hooked(model, names, count) as new_pass:
        for start in range(0, images.shape[0], batch_size):
            new_pass()
            model(images[start : start + batch_size])
    rows = [
        SparsityRow(
            layer=layer,
            depth=depth,
            zero_fraction=zeros / numel,
            mean_activation=total / numel,
            numel=numel,
            shape=shape,
        )
        for depth, (layer, (zeros, total, numel, shape)) in enumerate(totals.items(), start=1)
    ]
    return SparsityResult(model=name or type(model).__name__, images=int(images.shape[0]), rows=rows)
