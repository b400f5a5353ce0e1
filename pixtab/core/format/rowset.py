"""Row sets: ``--rows SPEC``, a half-open range ``LO:HI`` of 0-based rows or a file of rows.

Files (by extension): ``.npy`` (integer row indices, or a boolean mask of
length nrows), ``.parquet``/``.arrow``/``.feather`` and ``.csv``/``.tsv`` (the
``row`` column ``export --columns row`` writes, else their only column), an
MPDAF PixTableMask FITS file (True rows), any other file as plain text (one
or more integers per line, ``#`` comments). Indices are sorted and made unique;
one outside the table is an error. A boolean mask stays a memory map (npy,
PixTableMask); a list of indices is held in memory (8 bytes per listed row).
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..errors import CriteriaError, InputError
from . import pixmask

_RANGE = re.compile(r"^\s*(\d*)\s*:\s*(\d*)\s*$")
#: a row list with more runs than this is planned as coarse blocks of rows instead
MAX_SPANS = 100_000
BLOCK = 1 << 16


class RowSet:
    """A set of table rows: a range, sorted unique indices, or a boolean mask."""

    def __init__(self, spec: str, lo: int = 0, hi: int | None = None, indices: np.ndarray | None = None,
                 flags: np.ndarray | None = None) -> None:
        self.spec, self.lo, self.hi, self.indices, self.flags = spec, lo, hi, indices, flags

    @classmethod
    def parse(cls, spec: str) -> "RowSet":
        """A range ``LO:HI`` (either end may be left out) or a file name."""
        m = _RANGE.match(spec)
        if m and not os.path.exists(spec):
            lo = int(m[1]) if m[1] else 0
            hi = int(m[2]) if m[2] else None
            if hi is not None and hi <= lo:
                raise CriteriaError(f"rows {spec!r} is empty or inverted (need LO < HI)", field="rows")
            return cls(spec, lo, hi)
        if not os.path.exists(spec):
            raise CriteriaError(f"{spec!r} is neither a row range LO:HI nor an existing file", field="rows")
        return _read_file(spec)

    @property
    def is_range(self) -> bool:
        return self.indices is None and self.flags is None

    def check(self, nrows: int, table: str) -> None:
        """An error when the set does not fit a table of ``nrows`` rows."""
        if self.flags is not None and self.flags.shape[0] != nrows:
            raise InputError(self.spec, f"a row mask of {self.flags.shape[0]} rows, but {table} has {nrows}", field="rows")
        if self.indices is not None and self.indices.size and self.indices[-1] >= nrows:
            raise InputError(self.spec, f"row {int(self.indices[-1])} is outside {table} ({nrows} rows)", field="rows")

    def test(self, start: int, stop: int, idx: np.ndarray | None = None) -> np.ndarray:
        """Membership of rows ``start..stop`` (or of rows ``start + idx``)."""
        rows = np.arange(start, stop, dtype=np.int64) if idx is None else start + np.asarray(idx, np.int64)
        if self.flags is not None:
            part = np.asarray(self.flags[start:stop]) != 0
            return part if idx is None else part[idx]
        if self.indices is not None:
            a, b = np.searchsorted(self.indices, [start, stop])
            return np.isin(rows, self.indices[a:b], assume_unique=False)
        hi = self.hi if self.hi is not None else np.iinfo(np.int64).max
        return (rows >= self.lo) & (rows < hi)

    def spans(self, nrows: int) -> list[tuple[int, int]]:
        """Sorted disjoint row ranges holding every row of the set (exact when small enough)."""
        if self.is_range:
            a, b = min(self.lo, nrows), min(self.hi if self.hi is not None else nrows, nrows)
            return [(a, b)] if b > a else []
        if self.indices is not None:
            return _runs(self.indices)
        out: list[tuple[int, int]] = []
        for a in range(0, nrows, 1 << 22):  # a mask: read in chunks
            part = np.flatnonzero(np.asarray(self.flags[a : a + (1 << 22)]) != 0) + a  # type: ignore[index]
            out += _runs(part)
            if len(out) > MAX_SPANS:
                return [(a, min(a + BLOCK, nrows)) for a in range(0, nrows, BLOCK)]
        return out

    def count(self, nrows: int) -> int:
        return sum(b - a for a, b in self.spans(nrows)) if self.flags is None else sum(
            int(np.count_nonzero(np.asarray(self.flags[a : a + (1 << 22)]))) for a in range(0, nrows, 1 << 22))

    def describe(self) -> str:
        return f"rows {self.spec}"


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive runs of sorted unique indices (coarse blocks when there are too many)."""
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) != 1) + 1
    if cut.size + 1 > MAX_SPANS:
        blocks = np.unique(idx // BLOCK)
        return [(int(b) * BLOCK, (int(b) + 1) * BLOCK) for b in blocks]
    starts = np.concatenate([[idx[0]], idx[cut]])
    stops = np.concatenate([idx[cut - 1] + 1, [idx[-1] + 1]])
    return [(int(a), int(b)) for a, b in zip(starts, stops)]


def _indices(spec: str, values: np.ndarray) -> RowSet:
    values = np.asarray(values)
    if values.dtype == bool:
        return RowSet(spec, flags=values)
    if values.ndim != 1:
        raise InputError(spec, f"row list must be one-dimensional, not of shape {values.shape}", field="rows")
    if values.dtype.kind == "f":
        if not (np.isfinite(values).all() and (values == np.round(values)).all()):
            raise InputError(spec, "row indices must be whole numbers", field="rows")
    elif values.dtype.kind not in "iu":
        raise InputError(spec, f"row indices must be integers, not {values.dtype}", field="rows")
    values = values.astype(np.int64)
    if values.size and values.min() < 0:
        raise InputError(spec, f"row {int(values.min())} is negative (rows are 0-based indices)", field="rows")
    return RowSet(spec, indices=np.unique(values))


def _read_file(path: str) -> RowSet:
    low = path.lower()
    try:
        if low.endswith(".npy"):
            return _indices(path, np.load(path, mmap_mode="r", allow_pickle=False))
        if low.endswith((".fits", ".fit", ".fts")):
            if not pixmask.is_mask_file(path):
                raise InputError(path, "a FITS row file must be an MPDAF PixTableMask (a MASKCOL extension)", field="rows")
            _, values = pixmask.open_mask(path)
            return RowSet(path, flags=values)
        if low.endswith((".parquet", ".arrow", ".feather", ".ipc")):
            return _indices(path, _arrow_column(path))
        if low.endswith((".csv", ".tsv")):
            return _indices(path, _delimited(path, "\t" if low.endswith(".tsv") else ","))
        return _indices(path, _text(path))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read rows: {exc}", field="rows") from None


def _arrow_column(path: str) -> np.ndarray:
    try:
        import pyarrow.feather as feather
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(path, "reading Parquet/Arrow row lists needs pyarrow: pip install 'pixtab[parquet]'") from None
    table = pq.read_table(path) if path.lower().endswith(".parquet") else feather.read_table(path)
    return np.asarray(table.column(_pick(path, table.column_names)).to_numpy())


def _pick(path: str, names: list[str]) -> str:
    if "row" in names:
        return "row"
    if len(names) == 1:
        return names[0]
    raise InputError(path, f"no 'row' column among {', '.join(names)}", field="rows")


def _delimited(path: str, sep: str) -> np.ndarray:
    with open(path) as f:
        header = f.readline().rstrip("\r\n").split(sep)
        col = header.index(_pick(path, [h.strip() for h in header]))
        values = [line.rstrip("\r\n").split(sep)[col] for line in f if line.strip()]
    return np.array([int(v) for v in values], dtype=np.int64)


def _text(path: str) -> np.ndarray:
    out: list[int] = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0]
            for tok in line.replace(",", " ").split():
                try:
                    out.append(int(tok))
                except ValueError:
                    raise ValueError(f"line {n}: {tok!r} is not a row index") from None
    return np.array(out, dtype=np.int64)
