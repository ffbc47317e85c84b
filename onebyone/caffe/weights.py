"""Weights from a binary .caffemodel (a NetParameter) into a built `CaffeNet`, as Caffe copies them.

Caffe's `Net::CopyTrainedLayersFrom` matches layers by name, ignores layers the net does not have,
and refuses a layer whose number of blobs or blob shapes differ. Both layer messages are read (V2
`layer` = 100 with blobs = 7; V1 `layers` = 2 with blobs = 6, and the V0 `layer` inside it), and blobs
with a `shape` or the legacy num/channels/height/width, in `data` (float) or `double_data`.

Memory: the file is first indexed through an mmap, which touches only the bytes around the blobs
(names, shapes, lengths); then each blob's floats are read from the file straight into the storage
of the parameter they belong to (`readinto`), so the weights are in memory once, not twice.
"""

from __future__ import annotations

import math
import mmap
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from onebyone.caffe import wire
from onebyone.caffe.blobs import caffe_blobs
from onebyone.errors import OneByOneError

# Field numbers (caffe.proto): NetParameter, LayerParameter, V1LayerParameter, V0LayerParameter, BlobProto.
NET_LAYER, NET_LAYERS = 100, 2
V2_NAME, V2_BLOBS = 1, 7
V1_NAME, V1_BLOBS, V1_V0 = 4, 6, 1
V0_NAME, V0_BLOBS = 1, 50
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH, BLOB_DATA, BLOB_SHAPE, BLOB_DOUBLE = 1, 2, 3, 4, 5, 7, 8
SHAPE_DIM = 1


@dataclass
class BlobRef:
    """Where one blob's numbers are in the file: its shape and the byte spans of its values."""

    shape: tuple[int, ...]
    legacy: bool  # the shape came from num/channels/height/width
    itemsize: int = 4  # 4: `data` (float32); 8: `double_data`
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(end - start for start, end in self.spans) // self.itemsize


@dataclass
class LoadResult:
    """What `load_caffemodel` did: layers whose blobs were copied, net layers with parameters the file
    does not have (they keep their initial values), and file layers the net does not have."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def index_caffemodel(path: str | Path) -> dict[str, list[BlobRef]]:
    """Layer name → its blobs, for every layer of the file that has blobs (the data is not read)."""
    where = f"caffemodel {str(path)!r}"
    try:
        with open(path, "rb") as handle:
            size = Path(path).stat().st_size
            if size == 0:
                raise OneByOneError(f"{where}: empty file")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                return _index(buffer, size, where)
    except FileNotFoundError:
        raise OneByOneError(f"{where} not found") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, OneByOneError):
            raise
        raise OneByOneError(f"cannot read {where}: {exc}") from exc


def _index(buffer, size: int, where: str) -> dict[str, list[BlobRef]]:
    layers: dict[str, list[BlobRef]] = {}
    for top in wire.fields(buffer, 0, size, where):
        if top.number not in (NET_LAYER, NET_LAYERS) or top.wire_type != wire.LENGTH:
            continue
        name_field, blob_field = (V2_NAME, V2_BLOBS) if top.number == NET_LAYER else (V1_NAME, V1_BLOBS)
        name, blobs = None, []
        for f in wire.fields(buffer, top.value, top.end, where):
            if f.number == name_field:
                name = wire.string(buffer, f, where)
            elif f.number == blob_field:
                blobs.append(_blob(buffer, f, where))
            elif top.number == NET_LAYERS and f.number == V1_V0 and f.wire_type == wire.LENGTH:
                for g in wire.fields(buffer, f.value, f.end, where):  # a V0 layer inside a V1 message
                    if g.number == V0_NAME:
                        name = wire.string(buffer, g, where)
                    elif g.number == V0_BLOBS:
                        blobs.append(_blob(buffer, g, where))
        if name is None:
            raise OneByOneError(f"{where}: damaged (a layer without a name)")
        if blobs:
            layers[name] = blobs
    if not layers:
        raise OneByOneError(f"{where}: holds no layer with weights (is it a .caffemodel?)")
    return layers


def _blob(buffer, f: wire.Field, where: str) -> BlobRef:
    legacy = [0, 0, 0, 0]
    shape, floats, doubles = None, [], []
    for g in wire.fields(buffer, f.value, f.end, where):
        if g.number == BLOB_SHAPE and g.wire_type == wire.LENGTH:
            shape = []
            for d in wire.fields(buffer, g.value, g.end, where):
                if d.number == SHAPE_DIM:
                    shape += [wire.signed64(v) for v in wire.packed_varints(buffer, d, where)]
        elif BLOB_NUM <= g.number <= BLOB_WIDTH and g.wire_type == wire.VARINT:
            legacy[g.number - 1] = wire.signed64(g.value)
        elif g.number in (BLOB_DATA, BLOB_DOUBLE):
            expected = wire.FIXED32 if g.number == BLOB_DATA else wire.FIXED64
            if g.wire_type not in (wire.LENGTH, expected):
                raise OneByOneError(f"{where}: damaged (blob values of wire type {g.wire_type})")
            (floats if g.number == BLOB_DATA else doubles).append((g.value, g.end))
    if floats and doubles:
        raise OneByOneError(f"{where}: damaged (a blob with both data and double_data)")
    blob = BlobRef(
        tuple(shape) if shape is not None else tuple(legacy),
        shape is None,
        8 if doubles else 4,
        floats or doubles,
    )
    if any((end - start) % blob.itemsize for start, end in blob.spans):
        raise OneByOneError(f"{where}: damaged (blob values of {blob.itemsize}-byte numbers end mid-number)")
    if any(d < 0 for d in blob.shape):
        raise OneByOneError(f"{where}: damaged (blob shape {list(blob.shape)})")
    return blob


def fits(blob: BlobRef, expected: tuple[int, ...]) -> bool:
    """Caffe's Blob::ShapeEquals: a legacy blob fits when `expected`, padded to 4 axes with leading
    ones, equals its (num, channels, height, width)."""
    if not blob.legacy:
        return tuple(blob.shape) == tuple(expected)
    return len(expected) <= 4 and (1,) * (4 - len(expected)) + tuple(expected) == tuple(blob.shape)


def load_caffemodel(module: nn.Module, path: str | Path) -> LoadResult:
    """Copy the blobs of the .caffemodel at `path` into `module` (a `CaffeNet`), layer by layer name."""
    where = f"caffemodel {str(path)!r}"
    index = index_caffemodel(path)
    report = LoadResult()
    names = getattr(module, "caffe_names", None)
    if names is None:
        raise OneByOneError("load_caffemodel needs a module made by onebyone.caffe.build")
    in_net = set(names.values())
    report.ignored = [name for name in index if name not in in_net]
    with open(path, "rb") as handle:
        for module_name, caffe_name in names.items():
            targets = caffe_blobs(module.get_submodule(module_name))
            blobs = index.get(caffe_name)
            if blobs is None:
                if targets:
                    report.missing.append(caffe_name)
                continue
            layer = f"{where}: layer {caffe_name!r}"
            if len(blobs) != len(targets):
                raise OneByOneError(
                    f"{layer}: {len(blobs)} blob(s) in the file, the net's layer has {len(targets)}"
                )
            for position, (blob, target) in enumerate(zip(blobs, targets, strict=True)):
                if not fits(blob, target.caffe_shape):
                    shape = "x".join(map(str, blob.shape)) or "scalar"
                    raise OneByOneError(
                        f"{layer}: blob {position} has shape {shape}, the layer needs "
                        f"{'x'.join(map(str, target.caffe_shape)) or 'scalar'}"
                    )
                if blob.count != math.prod(blob.shape):
                    raise OneByOneError(
                        f"{layer}: blob {position} has shape {list(blob.shape)} but {blob.count:,} values"
                    )
                _read_into(handle, blob, target.tensor, where)
                if not bool(torch.isfinite(target.tensor).all()):  # a net that computes NaN: refuse it now
                    raise OneByOneError(f"{layer}: blob {position} holds NaN or Inf")
                target.finish()
            report.loaded.append(caffe_name)
    return report


def _read_into(handle, blob: BlobRef, tensor: torch.Tensor, where: str) -> None:
    """Fill `tensor` (contiguous float32, of blob.count values) from the file, without a second copy."""
    out = tensor.detach().numpy().reshape(-1)
    position = 0
    for start, end in blob.spans:
        count = (end - start) // blob.itemsize
        handle.seek(start)
        if blob.itemsize == 4:
            view = memoryview(out[position : position + count]).cast("B")
            if handle.readinto(view) != end - start:
                raise OneByOneError(f"{where}: truncated while reading a blob")
        else:  # double_data: one blob at a time in float64, then narrowed
            data = handle.read(end - start)
            if len(data) != end - start:
                raise OneByOneError(f"{where}: truncated while reading a blob")
            out[position : position + count] = np.frombuffer(data, dtype="<f8")
        position += count
    if blob.itemsize == 4 and sys.byteorder == "big":
        out.byteswap(inplace=True)
