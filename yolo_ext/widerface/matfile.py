"""A small deterministic MATLAB v5 MAT-file writer (cells, char rows, numeric arrays).

Why not ``scipy.io.savemat``: the official WIDER FACE ground truth stores ``gt_list`` as MATLAB
``double`` arrays whose data MATLAB compacted to ``uint8``/``uint16`` storage (so
``loadmat(..., mat_dtype=True)`` gives float64 while plain ``loadmat`` gives uint8), which savemat
cannot express; and savemat stamps the creation time into the header. This writer emits exactly
the element layout of the real files (per-variable zlib compression, small-element format for
1-4 data bytes, UTF-8 char data) with a fixed header, so equal inputs give equal bytes.

Format reference: MathWorks, "MAT-File Format" (Level 5 MAT-files), version 7 compressed elements.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np

from ..utils.files import atomic_write

# data types (mi*) and array classes (mx*) of the Level 5 format
MI = {"int8": 1, "uint8": 2, "int16": 3, "uint16": 4, "int32": 5, "uint32": 6, "double": 9,
      "matrix": 14, "compressed": 15, "utf8": 16}
MX = {"cell": 1, "char": 4, "double": 6, "single": 7, "int8": 8, "uint8": 9, "int16": 10,
      "uint16": 11, "int32": 12, "uint32": 13}
_DTYPE_MI = {np.dtype(np.uint8): "uint8", np.dtype(np.int8): "int8", np.dtype(np.uint16): "uint16",
             np.dtype(np.int16): "int16", np.dtype(np.int32): "int32", np.dtype(np.uint32): "uint32",
             np.dtype(np.float64): "double"}
HEADER_TEXT = "MATLAB 5.0 MAT-file, Platform: GLNXA64, Created by: yolo_ext.widerface (deterministic)"


@dataclass
class Numeric:
    """A numeric MATLAB array: ``data`` is stored with its own dtype (the MAT *storage* type)
    while ``mclass`` is the MATLAB class the array has when MATLAB loads it (e.g. a double array
    whose values MATLAB compacted into uint8 storage: ``Numeric(a.astype(np.uint8), "double")``).
    ``data`` must be 2-D (MATLAB arrays are at least 2-D)."""

    data: np.ndarray
    mclass: str = ""


Value = Union[Numeric, str, np.ndarray, Sequence["Value"]]


def _element(mi: str, payload: bytes) -> bytes:
    """A data element: small format for 1-4 bytes, else tag + payload padded to 8 bytes."""
    n = len(payload)
    if 0 < n <= 4:
        return struct.pack("<HH", MI[mi], n) + payload + b"\0" * (4 - n)
    return struct.pack("<II", MI[mi], n) + payload + b"\0" * (-n % 8)


def _matrix(mclass: str, dims, name: str, body: bytes) -> bytes:
    sub = (_element("uint32", struct.pack("<II", MX[mclass], 0))
           + _element("int32", struct.pack(f"<{len(dims)}i", *dims))
           + (struct.pack("<II", MI["int8"], 0) if not name else _element("int8", name.encode("ascii")))
           + body)
    return struct.pack("<II", MI["matrix"], len(sub)) + sub


def _encode(value: Value, name: str = "") -> bytes:
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _matrix("char", (1, len(value)), name, _element("utf8", data) if data else struct.pack("<II", MI["utf8"], 0))
    if isinstance(value, np.ndarray):
        value = Numeric(value)
    if isinstance(value, Numeric):
        a = np.asarray(value.data)
        if a.ndim != 2:
            raise ValueError(f"MAT writer: variable {name or '<cell element>'} must be 2-D, got shape {a.shape}")
        if a.dtype not in _DTYPE_MI:
            raise ValueError(f"MAT writer: unsupported dtype {a.dtype} for {name or '<cell element>'}")
        mi = _DTYPE_MI[a.dtype]
        payload = np.asfortranarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes(order="F")
        body = _element(mi, payload) if payload else struct.pack("<II", MI[mi], 0)
        return _matrix(value.mclass or mi, a.shape, name, body)
    items = list(value)  # a cell: a column (n x 1), elements in column-major order
    return _matrix("cell", (len(items), 1), name, b"".join(_encode(v) for v in items))


def mat_bytes(variables: Mapping[str, Value], header_text: str = HEADER_TEXT) -> bytes:
    """Serialise ``{name: value}`` (written in the given order) to MAT v5 bytes.

    Values: ``str`` -> 1xN char; ``np.ndarray`` / :class:`Numeric` (2-D) -> numeric;
    list/tuple -> Nx1 cell of values.
    """
    text = header_text.encode("ascii")
    if len(text) > 116:
        raise ValueError("MAT header text longer than 116 bytes")
    out = [text.ljust(116, b" "), b"\0" * 8, struct.pack("<H", 0x0100), b"IM"]
    for name, value in variables.items():
        z = zlib.compress(_encode(value, name), 6)
        out.append(struct.pack("<II", MI["compressed"], len(z)) + z)
    return b"".join(out)


def write_mat(path, variables: Mapping[str, Value], header_text: str = HEADER_TEXT) -> Path:
    """Write :func:`mat_bytes` to ``path`` atomically (temp file in the same dir + os.replace)."""
    return atomic_write(path, mat_bytes(variables, header_text))
