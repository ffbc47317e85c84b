"""A strict reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.).

An IDX file is: two zero bytes, a type code, the number of dimensions n, then n big-endian
uint32 sizes, then the values, big-endian, row-major. Anything else (a wrong magic number,
an unknown type code, a zero size, a short or over-long body) is an error that names the
file and what was wrong, never a silently wrong array.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from onebyone.errors import OneByOneError

MAX_IDX_BYTES = 2**30  # Fashion-MNIST's training images are 47 MB: a thousand-fold margin at 28×28
# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx_bytes(path: str | Path) -> bytes:
    """The raw bytes of an IDX file, gunzipped when it starts with the gzip magic.

    Never more than the header declares (plus one byte, to tell that more follows) and never more than
    MAX_IDX_BYTES: a gzip file of a few megabytes can expand to any size (a "zip bomb"), and
    `gzip.decompress` would hold it all in memory before the size check could refuse it."""
    path = Path(path)
    if not path.is_file():
        raise OneByOneError(f"{str(path)!r}: file not found")
    if path.stat().st_size > MAX_IDX_BYTES:
        raise OneByOneError(
            f"{str(path)!r}: over {MAX_IDX_BYTES // 2**20:,} MiB; not an IDX file onebyone reads"
        )
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        stream = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
        head = stream.decompress(raw, 4 + 4 * 255)  # the longest header: 255 sizes
        declared = _declared_bytes(head)
        limit = min(declared, MAX_IDX_BYTES) + 1  # one byte more tells that more follows
        body, size = [head], len(head)
        while size < limit and not stream.eof:
            piece = stream.decompress(stream.unconsumed_tail, limit - size)
            if not piece and not stream.eof:
                raise OneByOneError(f"{str(path)!r}: corrupt gzip stream (it ends early)")
            body.append(piece)
            size += len(piece)
        if size >= limit and not stream.eof:
            bound = (
                f"the {declared:,} bytes its header declares"
                if declared <= MAX_IDX_BYTES
                else (f"{MAX_IDX_BYTES // 2**20:,} MiB")
            )
            raise OneByOneError(f"{str(path)!r}: the gzip stream expands past {bound}")
        if stream.unused_data:
            raise OneByOneError(f"{str(path)!r}: data after the gzip stream")
    except (OSError, EOFError, zlib.error) as exc:
        raise OneByOneError(f"{str(path)!r}: corrupt gzip stream ({exc})") from exc
    return b"".join(body)


def _declared_bytes(head: bytes) -> int:
    """The size the IDX header at the start of `head` declares (header and values); 0 if it is none."""
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_DTYPES:
        return len(head)  # not IDX: parse_idx names what is wrong
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        return len(head)
    shape = struct.unpack(f">{ndim}I", head[4 : 4 + 4 * ndim])
    return 4 + 4 * ndim + math.prod(shape) * IDX_DTYPES[head[2]].itemsize


def parse_idx(raw: bytes, name: str = "<bytes>", *, expected_ndim: int | None = None) -> np.ndarray:
    """Parse IDX bytes into an array of the file's own dtype (native byte order)."""
    if len(raw) < 4:
        raise OneByOneError(f"{name!r}: too short for an IDX header ({len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0:
        raise OneByOneError(
            f"{name!r}: bad magic number 0x{raw[:4].hex()}; an IDX file starts with two zero bytes"
        )
    if code not in IDX_DTYPES:
        raise OneByOneError(f"{name!r}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise OneByOneError(f"{name!r}: IDX header declares 0 dimensions")
    if expected_ndim is not None and ndim != expected_ndim:
        raise OneByOneError(f"{name!r}: expected {expected_ndim} dimensions, header declares {ndim}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise OneByOneError(f"{name!r}: truncated header ({len(raw)} of {header_size} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    if any(size == 0 for size in shape):
        raise OneByOneError(f"{name!r}: zero-sized dimension in shape {shape}")
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: four 2**32 sizes do not wrap around
    body = len(raw) - header_size
    if body < expected:
        raise OneByOneError(f"{name!r}: truncated: shape {shape} needs {expected} data bytes, found {body}")
    if body > expected:
        raise OneByOneError(f"{name!r}: {body - expected} extra bytes after the data of shape {shape}")
    array = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path, *, expected_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array; bad files raise OneByOneError."""
    return parse_idx(read_idx_bytes(path), str(path), expected_ndim=expected_ndim)


def write_idx(array: np.ndarray, path: str | Path, *, compress: bool = False) -> Path:
    """Write `array` as an IDX file (used to build test inputs and user data sets)."""
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in codes:
        raise OneByOneError(f"IDX has no type code for dtype {array.dtype}")
    code = codes[native]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(raw, compresslevel=1) if compress else raw)
    return path
