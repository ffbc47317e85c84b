"""A net definition as an nn.Module: one submodule per Caffe layer, under the layer's own name.

`build(definition)` walks the layers in file order as Caffe's `Net::Init` does, keeping every blob's
shape; each layer's module is made for the shapes of its bottoms (on the meta device, so nothing is
allocated twice) and run on meta tensors for the shapes of its tops. The module is `CaffeNet`: its
forward runs the same steps on real blobs. In-place layers (`top` = `bottom`) rebind the blob name.
Submodule names are the layer names made valid Python names (`inception_3a/1x1` → `inception_3a_1x1`);
`caffe_names` maps them back.
"""

from __future__ import annotations

import keyword
import math
import re

import torch
from torch import Tensor, nn

from onebyone.caffe.layers import InnerProduct
from onebyone.caffe.net import NetDefinition
from onebyone.caffe.specs import LAYER_BUILDERS
from onebyone.errors import OneByOneError

MAX_BLOB_VALUES = 2**31 - 1  # Caffe's blob count is an int
MAX_PARAMETERS = 2_000_000_000  # as for the zoo (models/size.py): 8 GB of float32


class CaffeNet(nn.Module):
    """The modules of a Caffe net and the order in which they read and write blobs.

    Attributes:
        steps: (module name, bottom blobs, top blobs) in Caffe's order.
        input_name: the input blob; output_name: the blob `forward` returns.
        outputs: every blob no layer reads (Caffe's net outputs); the last one is `output_name`.
        caffe_names: module name → Caffe layer name.
        blob_shapes: every blob's shape at the input size the net was built for.
    """

    def __init__(
        self,
        definition: NetDefinition,
        modules: dict[str, nn.Module],
        steps: list[tuple[str, tuple[str, ...], tuple[str, ...]]],
        input_name: str,
        outputs: list[str],
        caffe_names: dict[str, str],
        blob_shapes: dict[str, tuple[int, ...]],
        input_shape: tuple[int, ...],
    ) -> None:
        super().__init__()
        for name, module in modules.items():
            self.add_module(name, module)
        self.net_name = definition.name
        self.steps = steps
        self.input_name = input_name
        self.outputs = outputs
        self.output_name = outputs[-1]
        self.caffe_names = caffe_names
        self.blob_shapes = blob_shapes
        self.input_shape = input_shape
        self.in_channels = input_shape[1]
        self._released = _released(steps, self.output_name)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> the net's output blob
        blobs = {self.input_name: x}
        for (name, bottoms, tops), released in zip(self.steps, self._released, strict=True):
            module = self._modules[name]
            out = module(*layer_inputs(module, [blobs[b] for b in bottoms]))
            if len(tops) == 1:
                blobs[tops[0]] = out
            else:
                for top, value in zip(tops, out, strict=True):
                    blobs[top] = value
            for blob in released:  # no later layer reads it: free it, as an inference engine would
                del blobs[blob]
        return blobs[self.output_name]

    def extra_repr(self) -> str:
        return f"name={self.net_name!r}, input={self.input_name!r}, output={self.output_name!r}"


def build(definition: NetDefinition, input_shape: tuple[int, ...] | None = None) -> CaffeNet:
    """The module of `definition`, built for `input_shape` (C, H, W or N, C, H, W; default: declared).

    Raises:
        OneByOneError: an unknown layer type, a bottom no layer made, a layer that does not fit the
            shapes of its bottoms, more than one input, or no input size.
    """
    if len(definition.inputs) != 1:
        names = ", ".join(i.blob for i in definition.inputs)
        raise OneByOneError(
            f"{definition.source}: {len(definition.inputs)} inputs ({names}); onebyone "
            "builds nets with one input"
        )
    declared = definition.inputs[0]
    shape = declared.shape
    if input_shape is not None:
        shape = tuple(input_shape) if len(input_shape) == 4 else (shape[0] if shape else 1, *input_shape)
    if shape is None:
        raise OneByOneError(
            f"{definition.source}: {declared.declared} gives no input size; give it with --input CxHxW"
        )
    _check_blob(tuple(shape), f"{definition.source}: input {declared.blob!r}")
    shapes: dict[str, tuple[int, ...]] = {declared.blob: tuple(shape)}
    unavailable = {label: declared.declared for label in declared.labels}
    meta_blobs = {declared.blob: torch.empty(shape, device="meta")}
    modules, steps, caffe_names = {}, [], {}
    for layer in definition.layers:
        if layer.type not in LAYER_BUILDERS:
            raise OneByOneError(
                f"{layer.where}: unknown layer type {layer.type!r}; supported: "
                f"{', '.join(sorted(LAYER_BUILDERS))}"
            )
        for bottom in layer.bottoms:
            if bottom in unavailable:
                raise OneByOneError(
                    f"{layer.where}: reads {bottom!r}, a label of the {unavailable[bottom]}; "
                    "only training reads labels"
                )
            if bottom not in shapes:
                raise OneByOneError(f"{layer.where}: bottom {bottom!r} is not made by any layer above it")
        if not layer.tops:
            raise OneByOneError(f"{layer.where}: a layer with no top")
        bottom_shapes = [shapes[b] for b in layer.bottoms]
        if not bottom_shapes:
            raise OneByOneError(f"{layer.where}: a layer with no bottom")
        try:
            with torch.device("meta"):
                module = LAYER_BUILDERS[layer.type](layer, bottom_shapes)
                out = module(*layer_inputs(module, [meta_blobs[b] for b in layer.bottoms]))
        except OneByOneError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OneByOneError(
                f"{layer.where}: does not fit bottoms of shapes {[list(s) for s in bottom_shapes]} ({text})"
            ) from None
        outs = out if isinstance(out, tuple) else (out,)
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            _check_blob(tuple(tensor.shape), f"{layer.where}: {name}")
        for top, value in zip(layer.tops, outs, strict=False):
            _check_blob(tuple(value.shape), f"{layer.where}: top {top!r}")
        if len(outs) != len(layer.tops):
            raise OneByOneError(f"{layer.where}: makes {len(outs)} blob(s) but names {len(layer.tops)} tops")
        name = _module_name(layer.name, modules)
        modules[name], caffe_names[name] = module, layer.name
        steps.append((name, layer.bottoms, layer.tops))
        for top, value in zip(layer.tops, outs, strict=True):
            shapes[top], meta_blobs[top] = tuple(value.shape), value
    if not steps:
        raise OneByOneError(f"{definition.source}: no layer computes anything at the TEST phase")
    outputs = _outputs(steps)
    net = CaffeNet(definition, modules, steps, declared.blob, outputs, caffe_names, shapes, tuple(shape))
    total = sum(t.numel() for t in [*net.parameters(), *net.buffers()])
    if total > MAX_PARAMETERS:
        raise OneByOneError(
            f"{definition.source}: the net would have {total:,} parameters and buffers; onebyone builds "
            f"at most {MAX_PARAMETERS:,}"
        )
    net.to_empty(device="cpu")  # the first real allocation, once every size is known to be bounded
    for module in net.modules():
        if module is not net and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return net.eval()


def _check_blob(shape: tuple[int, ...], what: str) -> None:
    """Caffe's own bound (Blob::Reshape): a blob of more than INT_MAX values is refused, here before
    anything is allocated (a prototxt is a few lines; its sizes could ask for terabytes)."""
    count = math.prod(shape)
    if count > MAX_BLOB_VALUES:
        raise OneByOneError(
            f"{what} of shape {'x'.join(map(str, shape))} would hold {count:,} values; a Caffe blob holds at "
            f"most {MAX_BLOB_VALUES:,} (INT_MAX), as Caffe checks"
        )


def layer_inputs(module: nn.Module, inputs: list[Tensor]) -> list[Tensor]:
    """What a layer's module is called with: its bottoms, an InnerProduct's flattened first."""
    if isinstance(module, InnerProduct):
        return [module.flattened(inputs[0]), *inputs[1:]]
    return inputs


def _outputs(steps: list[tuple[str, tuple[str, ...], tuple[str, ...]]]) -> list[str]:
    """Blobs whose last value no later layer reads, in the order they were last written (Caffe's outputs)."""
    pending: dict[str, None] = {}
    for _, bottoms, tops in steps:
        for bottom in bottoms:
            pending.pop(bottom, None)
        for top in tops:
            pending.pop(top, None)
            pending[top] = None
    return list(pending)


def _released(steps, output: str) -> list[tuple[str, ...]]:
    """For each step, the bottoms whose value no later step reads (never the output, never a blob the
    step itself rewrites in place)."""
    released = []
    for index, (_, bottoms, tops) in enumerate(steps):
        dead = []
        for blob in dict.fromkeys(bottoms):
            if blob in tops:
                continue
            later = next(((b, t) for _, b, t in steps[index + 1 :] if blob in b or blob in t), None)
            read_again = later is not None and blob in later[0]
            if not read_again and (blob != output or later is not None):
                dead.append(blob)
        released.append(tuple(dead))
    return released


def _module_name(caffe_name: str, taken: dict[str, nn.Module]) -> str:
    """A valid, unused attribute name for a Caffe layer name."""
    name = re.sub(r"\W", "_", caffe_name) or "layer"
    if name[0].isdigit() or keyword.iskeyword(name) or hasattr(CaffeNet, name) or name in _RESERVED:
        name = f"layer_{name}"
    base, index = name, 2
    while name in taken:
        name, index = f"{base}_{index}", index + 1
    return name


_RESERVED = {
    "steps",
    "_released",
    "input_name",
    "outputs",
    "output_name",
    "caffe_names",
    "blob_shapes",
    "input_shape",
    "in_channels",
    "net_name",
}
