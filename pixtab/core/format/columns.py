"""The columns of a pixel table, and the one rule that builds the columns of an output.

Every output of a pixel table (extract, convert) keeps the input's columns in
input order: the pipeline's columns under their lower-case DRS names, others
under their stored names; units verbatim. Binary columns keep their type.
MPDAF's ASCII tables hold text parsed as float64/int64: they are written with
the pipeline's 32-bit types (:func:`narrow`), each value only where the
float32/int32 gives the text back at the text's own precision (or, on
request, rounded to the nearest float32).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import InputError
from ..fits.hdu import ColumnSpec

REQUIRED = ("xpos", "ypos", "lambda", "data", "dq", "stat", "origin")
OPTIONAL = ("weight",)
#: dtype each known column must have for the pipeline to load it
PIPELINE_DTYPES = {
    "xpos": "float32",
    "ypos": "float32",
    "lambda": "float32",
    "data": "float32",
    "dq": "int32",
    "stat": "float32",
    "origin": "int32",
    "weight": "float32",
}
FLAT_FIELD_EXTNAME = "PIXTABLE_FLAT_FIELD"

_INT32 = np.iinfo(np.int32)
_ASCII_PRECISION = re.compile(r"^\s*([EDF])\d+\.(\d+)")


def output_name(name: str, stored: str) -> str:
    """Pipeline columns get the DRS's lower-case names; others keep theirs."""
    return name if name in REQUIRED or name in OPTIONAL else stored


def output_columns(columns: Iterable[Any], from_text: bool, path: str) -> list[ColumnSpec]:
    """Output columns for input ``columns`` (objects with name, stored_name, dtype, unit).

    ``from_text``: the input is an ASCII table; its columns become float32 or
    int32, and a text column is refused. Raises :class:`InputError` when a
    pipeline column would get a type the pipeline rejects.
    """
    specs = []
    for c in columns:
        dtype = c.dtype
        if from_text:
            if dtype.kind == "S":
                raise InputError(path, f"column '{c.stored_name}' holds text: a pixel table stores only numbers")
            dtype = np.dtype("float32" if dtype.kind == "f" else "int32")
        want = PIPELINE_DTYPES.get(c.name)
        if want is not None and dtype != np.dtype(want):
            raise InputError(path, f"column '{c.name}' is {dtype.name}; the MUSE pipeline requires {want}")
        specs.append(ColumnSpec(output_name(c.name, c.stored_name), dtype, c.unit))
    return specs


def narrow(path: str, column: Any, values: np.ndarray, rows: int | np.ndarray, round_float32: bool) -> tuple[np.ndarray, int]:
    """Values parsed from an ASCII column as int32/float32; and how many floats were rounded.

    ``rows``: input row of the first value, or of every value (for messages).

    Raises :class:`InputError` (field ``round_float32``) for a float the
    float32 would change, unless ``round_float32``; and for integers outside int32.
    """
    if values.dtype.kind in "iu":
        return _to_int32(path, column.stored_name, values, rows), 0
    return _to_float32(path, column, values, rows, round_float32)


def _row(rows: int | np.ndarray, r: int) -> int:
    return rows + r if isinstance(rows, int) else int(rows[r])


def _to_int32(path: str, name: str, values: np.ndarray, rows: int | np.ndarray) -> np.ndarray:
    bad = np.flatnonzero((values < _INT32.min) | (values > _INT32.max))
    if len(bad):
        r = int(bad[0])
        raise InputError(path, f"column '{name}': value {int(values[r])} at row {_row(rows, r)} does not fit in int32")
    return values.astype(np.int32)


def _text_tolerance(fits_format: str, values: np.ndarray) -> np.ndarray | float:
    """Half a unit in the last digit of each value's text (0 when the format says nothing)."""
    m = _ASCII_PRECISION.match(fits_format)
    if not m:
        return 0.0
    decimals = int(m[2])
    if m[1] == "F":  # Fw.d: fixed decimals
        return 0.5 * 10.0**-decimals
    # Ew.d / Dw.d as astropy writes them: one digit before the point, d after it.
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.abs(values)))
    return np.where(np.isfinite(exponent), 0.5 * 10.0 ** (exponent - decimals), 0.0)


def _to_float32(path: str, c: Any, values: np.ndarray, rows: int | np.ndarray, round_float32: bool) -> tuple[np.ndarray, int]:
    """float64 parsed from text -> float32, refusing values the float32 would change.

    Decimal text can only be "exact" at its own precision: a value is accepted
    when the nearest float32 agrees with the text to within half a unit in its
    last digit, i.e. printing the float32 in the column's format gives the same
    text back (true of any float32 written with enough digits for its format).
    """
    with np.errstate(over="ignore"):
        out = values.astype(np.float32)
    back = out.astype(np.float64)
    with np.errstate(invalid="ignore"):
        # The slack absorbs float64 rounding of the text at exact ties (x.5 in the last digit).
        slack = np.abs(values) * 1e-15
        changed = np.abs(back - values) > _text_tolerance(c.fits_format, values) * (1 + 1e-6) + slack
    changed &= ~(np.isnan(values) & np.isnan(back)) & ~(back == values)
    overflow = np.isinf(back) & np.isfinite(values)
    bad = np.flatnonzero(overflow | changed if not round_float32 else overflow)
    if len(bad):
        r = int(bad[0])
        raise InputError(
            path,
            f"column '{c.stored_name}': value {float(values[r])!r} at row {_row(rows, r)} ({c.fits_format}) "
            "is not exactly representable as float32",
            field=None if round_float32 else "round_float32",
        )
    return out, int(np.count_nonzero(changed))
