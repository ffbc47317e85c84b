"""Activations of a model on real images: captured maps, and sparsity after every activation (claim C13).

Sparsity counts every element-wise activation that can output exact zeros
(`onebyone.graph.layer_kinds.ZERO_KINDS`): ReLU, ReLU6, hard-swish (zero below −3), hard-tanh
clipping at 0, modules and their subclasses alike, and functional calls (F.relu, torch.relu,
x.relu(), F.relu6, F.hardswish, x.clamp(min=0), …). Modules are seen through forward hooks, so a
module called twice gives two entries (`layer1.0.relu` and `layer1.0.relu[1]`); functional calls
through a torch function mode, named after the module whose forward made them
(`layer1.0.relu()`, `relu()` at the top level). Models run in eval mode under no_grad; their
train/eval flags are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from onebyone.errors import OneByOneError
from onebyone.graph import layer_kinds
from onebyone.profiling.probe import check_forward_memory, probe_forward, running

NO_ACTIVATION = (
    "has no activation that can output zeros (nn.ReLU, ReLU6, Hardswish, F.relu, x.relu(), …); "
    "name the layers to capture"
)


def relu_layers(model: nn.Module, images: Tensor | None = None) -> list[str]:
    """The activations that can output zeros: module paths in definition order; with `images`
    (run once), every activation called, functional ones included, in call order."""
    if images is None:
        return [name for name, module in model.named_modules() if name and layer_kinds.zero_kind(module)]
    return list(dict.fromkeys(site for site, _ in _zero_activation_calls(model, images[:1])))


def _zero_activation_calls(model: nn.Module, images: Tensor) -> list[tuple[str, str | None]]:
    calls: list[tuple[str, str | None]] = []
    check_forward_memory(model, images.shape)
    with _watching(model, None, lambda site, kind, output: calls.append((site, kind))):
        with running(model, images.shape):
            model(_check_images(images))
    return calls


def resolve_layers(model: nn.Module, layers: Sequence[str] | None) -> list[str] | None:
    """`layers` checked against the model's module paths (a name ending in "()" is a functional call,
    checked when the model runs); None stays None: every activation that can output zeros."""
    if layers is None:
        return None
    modules = dict(model.named_modules())
    if isinstance(layers, str):
        layers = [layers]
    for name in layers:
        if not name.endswith("()") and (name not in modules or name == ""):
            examples = ", ".join(n for n in list(modules)[1:8] if n)
            raise OneByOneError(
                f"no layer {name!r} in {type(model).__name__}; layers are module paths such as {examples}"
            )
    return list(layers)


def _call_name(path: str, call: int) -> str:
    return path if call == 0 else f"{path}[{call}]"


@contextmanager
def _watching(
    model: nn.Module,
    layers: list[str] | None,
    on_output: Callable[[str, str | None, Tensor], None],
    calls: set[str] | None = None,
) -> Iterator[None]:
    """Calls on_output(site, kind, output) after each call of a watched layer: the named `layers`
    (module paths or functional call sites), or, for None, every activation that can output zeros.
    Adds every functional activation call site that runs to `calls`. Eval mode and no_grad
    inside; the flags are restored."""
    paths = {id(m): path for path, m in model.named_modules()}
    wanted = None if layers is None else set(layers)
    stack: list[nn.Module] = []

    def watched(site: str, kind: str | None) -> bool:
        return kind is not None if wanted is None else site in wanted

    def enter(module: nn.Module, args) -> None:
        stack.append(module)

    def leave(module: nn.Module, args, output) -> None:
        stack.pop()
        path, kind = paths[id(module)], layer_kinds.zero_kind(module)
        if watched(path, kind):
            if not isinstance(output, Tensor):
                raise OneByOneError(f"layer {path!r} returns {type(output).__name__}, not a tensor")
            on_output(path, kind, output)

    class FunctionalActivations(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            output = func(*args, **kwargs)
            kind = layer_kinds.zero_kind_of_call(func, args, kwargs)
            # Inside an activation module the call is that module's own work: its hook counts it.
            if kind is not None and not (stack and layer_kinds.elementwise(stack[-1])):
                parent = paths[id(stack[-1])] if stack else ""
                site = f"{parent}.{func.__name__}()" if parent else f"{func.__name__}()"
                if calls is not None:
                    calls.add(site)
                if watched(site, kind) and isinstance(output, Tensor):
                    on_output(site, kind, output)
            return output

    modes = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_pre_hook(enter) for m in model.modules()]
    handles += [m.register_forward_hook(leave) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), FunctionalActivations():
            yield
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


def _check_seen(model: nn.Module, layers: list[str] | None, seen: set[str], calls: set[str]) -> None:
    """Every named layer ran; with layers=None, at least one activation did."""
    if layers is None:
        if not seen:
            raise OneByOneError(f"{type(model).__name__} {NO_ACTIVATION}")
        return
    missing = [name for name in layers if name not in seen]
    if missing:
        seen_calls = ", ".join(sorted(calls)) or "none"
        raise OneByOneError(
            f"layer {missing[0]!r} is not called when {type(model).__name__} runs "
            f"(functional activation calls seen: {seen_calls})"
        )


def capture_activations(
    model: nn.Module, images: Tensor, layers: Sequence[str] | None = None
) -> dict[str, Tensor]:
    """Output of each of `layers` for `images`, in call order.

    Args:
        model: any nn.Module.
        images: (N, C, H, W) float, already preprocessed as the model expects.
        layers: module paths (e.g. "features.stage2") or functional call sites ("layer1.0.relu()",
            see `relu_layers(model, images)`); None: every activation that can output zeros.

    Returns:
        {name: (N, ...) tensor} on the CPU; a layer called k > 1 times gives "name", "name[1]", ….
    """
    names = resolve_layers(model, layers)
    captured: dict[str, Tensor] = {}
    counts: dict[str, int] = {}

    def keep(site: str, kind: str | None, output: Tensor) -> None:
        counts[site] = counts.get(site, -1) + 1
        # A copy: an inplace ReLU's output is changed by later inplace ops (`out += identity`).
        captured[_call_name(site, counts[site])] = output.detach().float().cpu().clone()

    calls: set[str] = set()
    check_forward_memory(model, images.shape)
    with _watching(model, names, keep, calls), running(model, images.shape):
        model(_check_images(images))
    _check_seen(model, names, set(counts), calls)
    return captured


@dataclass
class SparsityRow:
    """One activation call: how many of its outputs are exactly zero, over all images measured."""

    layer: str  # module path ("stage1.conv.act") or call site ("layer1.0.relu()"); "[k]": the k-th extra call
    depth: int  # 1 for the first activation the forward pass runs, 2 for the next, …
    zero_fraction: float  # exactly-zero outputs / all outputs
    mean_activation: float  # mean output value
    numel: int  # outputs counted (images × values per image)
    shape: list[int]  # output shape of one image, e.g. [96, 28, 28]
    kind: str = "relu"  # "relu", "relu6", "hardswish", "hardtanh", "threshold", "clamp"


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
    model: nn.Module,
    images: Tensor,
    batch_size: int = 256,
    *,
    name: str | None = None,
    preprocess: Callable[[Tensor], Tensor] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> SparsityResult:
    """Fraction of exactly-zero outputs and mean output of every activation that can output zeros.

    Args:
        model: any nn.Module; its ReLU-like activations, modules or functional calls, are counted
            when they return (inplace ones included).
        images: (N, C, H, W) float, preprocessed as the model expects, e.g. a test set; or raw
            (e.g. uint8) images with `preprocess`.
        batch_size: images per forward pass.
        name: model label for reports (default: the class name).
        preprocess: applied to each batch before the forward pass, so only one batch is ever held
            as float (e.g. `Run.preprocess` on uint8 images).
        on_batch: called with the batch's image count after each forward pass (progress).
    """
    if batch_size < 1:
        raise OneByOneError(f"batch_size must be ≥ 1, got {batch_size}")
    images = images if preprocess is not None else _check_images(images)
    if images.shape[0] == 0:
        raise OneByOneError("no images to measure sparsity on")
    batch_size = min(batch_size, images.shape[0])
    first = preprocess(images[:1]) if preprocess is not None else images[:1]
    probe = probe_forward(model, first.shape, name=name, tensor_output=False)
    probe.check_batch(batch_size, f"{name or type(model).__name__} at batch {batch_size:,}")
    totals: dict[str, list] = {}  # call name -> [zeros, sum, numel, shape, kind], in first-call order
    counts: dict[str, int] = {}

    def count(site: str, kind: str | None, output: Tensor) -> None:
        counts[site] = counts.get(site, -1) + 1
        values = output.detach()
        entry = totals.setdefault(_call_name(site, counts[site]), [0, 0.0, 0, list(values.shape[1:]), kind])
        entry[0] += int((values == 0).sum())
        entry[1] += float(values.double().sum())
        entry[2] += values.numel()

    with _watching(model, None, count):
        for start in range(0, images.shape[0], batch_size):
            counts.clear()  # a new forward pass: call numbers restart
            batch = images[start : start + batch_size]
            with torch.no_grad(), running(model, batch.shape, name):
                model(_check_images(preprocess(batch)) if preprocess is not None else batch)
            if on_batch is not None:
                on_batch(len(batch))
    _check_seen(model, None, set(totals), set())
    rows = [
        SparsityRow(
            layer=layer,
            depth=depth,
            zero_fraction=zeros / numel,
            mean_activation=total / numel,
            numel=numel,
            shape=shape,
            kind=kind,
        )
        for depth, (layer, (zeros, total, numel, shape, kind)) in enumerate(totals.items(), start=1)
    ]
    return SparsityResult(model=name or type(model).__name__, images=int(images.shape[0]), rows=rows)
