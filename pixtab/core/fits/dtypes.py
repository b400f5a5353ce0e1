"""The one table of FITS number types: numpy dtype <-> BITPIX (images) <-> TFORM (binary tables).

Also the parsing of TFORM and ASCII-table TFORM codes. Values on disk are
big-endian; the dtypes here are native (use ``dtype.newbyteorder('>')`` for
the stored form).
"""

from __future__ import annotations

import re

import numpy as np

#: (numpy dtype name, BITPIX, TFORM letter) of every scalar number type pixtab reads and writes
TYPES: tuple[tuple[str, int, str], ...] = (
    ("uint8", 8, "B"),
    ("int16", 16, "I"),
    ("int32", 32, "J"),
    ("int64", 64, "K"),
    ("float32", -32, "E"),
    ("float64", -64, "D"),
)
#: the BITPIX values the FITS standard allows
BITPIXES: tuple[int, ...] = tuple(b for _, b, _ in TYPES)

_BY_NAME = {name: (bitpix, tform) for name, bitpix, tform in TYPES}
_BY_BITPIX = {bitpix: np.dtype(name) for name, bitpix, _ in TYPES}
_BY_TFORM = {tform: np.dtype(name) for name, _, tform in TYPES}

_TFORM_RE = re.compile(r"^\s*(\d*)([A-Z])")
_ASCII_RE = re.compile(r"^\s*([AIFED])(\d+)")
#: bytes per element of every binary-table field type (for skipping fields we do not read)
_FIELD_BYTES = {"L": 1, "X": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}


def bitpix_of(dtype: np.dtype) -> int:
    """BITPIX of an image of ``dtype``; KeyError for a type FITS images cannot hold."""
    return _BY_NAME[np.dtype(dtype).newbyteorder("=").name][0]


def dtype_of_bitpix(bitpix: int) -> np.dtype:
    """Native dtype of an image with this BITPIX."""
    return _BY_BITPIX[bitpix]


def tform_of(dtype: np.dtype) -> str:
    """TFORM of one scalar of ``dtype`` in a binary table, e.g. ``'1E'``."""
    return "1" + _BY_NAME[np.dtype(dtype).newbyteorder("=").name][1]


def parse_tform(tform: str) -> tuple[int, str]:
    """(repeat, letter) of a binary-table TFORM; (0, '?') when unreadable."""
    m = _TFORM_RE.match(tform)
    if not m:
        return 0, "?"
    return int(m[1] or 1), m[2]


def dtype_of_tform(tform: str) -> np.dtype | None:
    """Native dtype of a scalar numeric TFORM (``1E``, ``J``...); None for anything else."""
    repeat, letter = parse_tform(tform)
    return _BY_TFORM.get(letter) if repeat == 1 else None


def field_bytes(tform: str) -> int:
    """Bytes a binary-table field of this TFORM takes in each row."""
    repeat, letter = parse_tform(tform)
    if letter == "X":
        return -(-repeat // 8)
    return repeat * _FIELD_BYTES.get(letter, 0)


def parse_ascii_tform(tform: str) -> tuple[str, int] | None:
    """(code, width) of an ASCII-table TFORM such as ``E15.7``; None when unsupported."""
    m = _ASCII_RE.match(tform)
    return (m[1], int(m[2])) if m else None


def dtype_of_ascii(code: str, width: int) -> np.dtype:
    """The dtype an ASCII-table field is parsed to: int64, float64 or bytes."""
    return np.dtype({"I": "i8", "A": f"S{width}"}.get(code, "f8"))
