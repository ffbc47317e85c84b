"""Two writers of .caffemodel files for the tests: protobuf's own library, and a tiny one of ours.

`protobuf_caffemodel` builds NetParameter, LayerParameter, V1LayerParameter and BlobProto classes at
run time from a descriptor declared here with caffe.proto's field numbers, and serialises them with
the `protobuf` package: a writer independent of onebyone's reader. `tiny_caffemodel` writes the wire
format by hand, for encodings protobuf would not produce (unpacked floats, truncated files).
"""

from __future__ import annotations

import struct

import numpy as np

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:  # pragma: no cover - protobuf comes with onnx
    descriptor_pb2 = None

_MESSAGES = None


def _classes():
    global _MESSAGES
    if _MESSAGES is None:
        F = descriptor_pb2.FieldDescriptorProto
        proto = descriptor_pb2.FileDescriptorProto(name="onebyone_test_caffe.proto", package="t")

        def message(name, fields):
            m = proto.message_type.add(name=name)
            for field_name, number, kind, label, type_name, packed in fields:
                f = m.field.add(name=field_name, number=number, type=kind, label=label)
                if type_name:
                    f.type_name = type_name
                if packed:
                    f.options.packed = True

        R, OPT = F.LABEL_REPEATED, F.LABEL_OPTIONAL
        message("BlobShape", [("dim", 1, F.TYPE_INT64, R, None, True)])
        message(
            "BlobProto",
            [
                ("shape", 7, F.TYPE_MESSAGE, OPT, ".t.BlobShape", False),
                ("data", 5, F.TYPE_FLOAT, R, None, True),
                ("double_data", 8, F.TYPE_DOUBLE, R, None, True),
                ("num", 1, F.TYPE_INT32, OPT, None, False),
                ("channels", 2, F.TYPE_INT32, OPT, None, False),
                ("height", 3, F.TYPE_INT32, OPT, None, False),
                ("width", 4, F.TYPE_INT32, OPT, None, False),
            ],
        )
        message(
            "LayerParameter",
            [
                ("name", 1, F.TYPE_STRING, OPT, None, False),
                ("type", 2, F.TYPE_STRING, OPT, None, False),
                ("blobs", 7, F.TYPE_MESSAGE, R, ".t.BlobProto", False),
            ],
        )
        message(
            "V1LayerParameter",
            [
                ("name", 4, F.TYPE_STRING, OPT, None, False),
                ("type", 5, F.TYPE_INT32, OPT, None, False),
                ("blobs", 6, F.TYPE_MESSAGE, R, ".t.BlobProto", False),
            ],
        )
        message(
            "NetParameter",
            [
                ("name", 1, F.TYPE_STRING, OPT, None, False),
                ("layers", 2, F.TYPE_MESSAGE, R, ".t.V1LayerParameter", False),
                ("layer", 100, F.TYPE_MESSAGE, R, ".t.LayerParameter", False),
            ],
        )
        pool = descriptor_pool.DescriptorPool()
        pool.Add(proto)
        _MESSAGES = {
            name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"t.{name}"))
            for name in ("NetParameter", "BlobProto")
        }
    return _MESSAGES


def protobuf_caffemodel(
    layers: dict[str, list[np.ndarray]], *, v1: bool = False, legacy: bool = False, double: bool = False
) -> bytes:
    """A NetParameter with one layer per entry (its blobs in order), serialised by protobuf."""
    net = _classes()["NetParameter"](name="test")
    for name, blobs in layers.items():
        layer = net.layers.add(name=name) if v1 else net.layer.add(name=name)
        for array in blobs:
            blob = layer.blobs.add()
            if legacy:
                dims = (1,) * (4 - array.ndim) + array.shape
                blob.num, blob.channels, blob.height, blob.width = dims
            else:
                blob.shape.dim.extend(array.shape)
            (blob.double_data if double else blob.data).extend(array.reshape(-1).tolist())
    return net.SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def tiny_caffemodel(layers: dict[str, list[np.ndarray]], *, packed: bool = True) -> bytes:
    """The same NetParameter (V2 layers, BlobShape shapes) written by hand; `packed=False` writes each
    float as its own field, as protobuf 2 without [packed = true] would."""
    return b"".join(tiny_layer(name, blobs, packed=packed) for name, blobs in layers.items())


def tiny_layer(name: str, blobs: list[np.ndarray], *, packed: bool = True) -> bytes:
    """One `layer` field of a NetParameter: a file is these, concatenated (so it can be streamed)."""
    body = _field(1, name.encode())
    for array in blobs:
        shape = _field(1, b"".join(_varint(d) for d in array.shape))
        values = np.ascontiguousarray(array, dtype="<f4").reshape(-1)
        if packed:
            data = _field(5, values.tobytes())
        else:
            data = b"".join(_varint(5 << 3 | 5) + struct.pack("<f", v) for v in values)
        body += _field(7, _field(7, shape) + data)
    return _field(100, body)
