"""Where the facade's columns come from: a pixtab table on disk, an astropy HDUList, or memory.

A file-backed :class:`~pixtab.mpdaf.PixTable` reads each column on demand
through one of these sources (MPDAF memory-maps; pixtab reads only the rows
asked for, in bounded pieces). Values come back in the file's native dtype;
the facade widens floats to float64 as MPDAF does.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import numpy as np
from astropy.io import fits

from ..core.errors import PixtabError
from ..core.io.table import PixTable as CoreTable

GATHER_ROWS = 1 << 22  # widest span read in one piece for a row subset


def rows_of(ksel: Any, nrows: int) -> Any:
    """MPDAF's ``ksel`` (np.where tuple, boolean mask, indices, int or slice) as an index."""
    if isinstance(ksel, tuple):
        ksel = ksel[0]
    if isinstance(ksel, (slice, int, np.integer)):
        return ksel
    arr = np.asarray(ksel)
    if arr.dtype == bool:
        if arr.shape != (nrows,):
            raise IndexError(f"boolean mask of {arr.shape[0] if arr.ndim else 0} values for a table of {nrows} rows")
        return np.flatnonzero(arr)
    return arr.astype(np.int64)


class CoreColumns:
    """Columns of a table that pixtab's core opens (a path to a pipeline pixel table)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.table = CoreTable(path)
        weakref.finalize(self, self.table.close)  # the table's descriptor goes with this object
        self.path = self.table.path
        self.nrows = self.table.nrows
        self.header = self.table.primary_header.to_astropy()  # MPDAF's type (a copy)
        self.ima = self.table.layout == "image"
        self.units = {name: c.unit for name, c in self.table.columns.items()}

    def has(self, name: str) -> bool:
        return name in self.table.columns

    def read(self, name: str, ksel: Any = None) -> np.ndarray:
        t = self.table
        if ksel is None:
            return t.read([name])[name]
        idx = rows_of(ksel, self.nrows)
        if isinstance(idx, slice):
            a, b, step = idx.indices(self.nrows)
            return t.read([name], a, b)[name][::step] if step > 0 else self.read(name)[idx]
        if np.ndim(idx) == 0:
            i = int(idx) + (self.nrows if int(idx) < 0 else 0)
            if not 0 <= i < self.nrows:
                raise IndexError(f"row {int(idx)} is out of range for a table of {self.nrows} rows")
            return t.read([name], i, i + 1)[name][0]
        idx = np.where(idx < 0, idx + self.nrows, idx)
        if idx.size == 0:
            return np.empty(0, dtype=t.columns[name].dtype)
        if idx.min() < 0 or idx.max() >= self.nrows:
            raise IndexError(f"row index out of range for a table of {self.nrows} rows")
        order = None if np.all(idx[1:] >= idx[:-1]) else np.argsort(idx, kind="stable")
        srt = idx if order is None else idx[order]
        out = np.empty(idx.size, dtype=t.columns[name].dtype)
        pos = 0
        while pos < srt.size:  # one read per span of at most GATHER_ROWS rows
            lo = int(srt[pos])
            end = int(np.searchsorted(srt, lo + GATHER_ROWS, side="left"))
            hi = int(srt[end - 1]) + 1
            out[pos:end] = t.read([name], lo, hi)[name][srt[pos:end] - lo]
            pos = end
        if order is not None:
            back = np.empty_like(out)
            back[order] = out
            out = back
        return out

    def close(self) -> None:
        self.table.close()


class HDUColumns:
    """Columns read through astropy (file objects, or files the core does not take as a
    pipeline table, e.g. without the TYPE keyword): memory-mapped as MPDAF does."""

    def __init__(self, source: Any) -> None:
        self.hdulist = fits.open(source, memmap=True)
        self.path = source if isinstance(source, (str, os.PathLike)) else None
        self.header = self.hdulist[0].header
        self.nrows = int(self.hdulist[1].header["NAXIS2"])
        self.ima = self.hdulist[1].header["XTENSION"] == "IMAGE"
        self.units: dict[str, str | None] = {}
        if self.ima:
            self.names = {(h.name or "").lower(): i for i, h in enumerate(self.hdulist) if i > 0}
            for name, i in self.names.items():
                self.units[name] = self.hdulist[i].header.get("BUNIT")
        else:
            cols = self.hdulist[1].columns
            self.names = {c.name.lower(): c.name for c in cols}
            for c in cols:
                self.units[c.name.lower()] = c.unit

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str, ksel: Any = None) -> np.ndarray:
        if name not in self.names:
            raise KeyError(f"no column '{name}'")
        if self.ima:
            col = self.hdulist[self.names[name]].data[:, 0]
        else:
            col = self.hdulist[1].data.field(self.names[name])
        out = col if ksel is None else col[rows_of(ksel, self.nrows)]
        return np.asarray(out).astype(np.asarray(out).dtype.newbyteorder("="))

    def close(self) -> None:
        self.hdulist.close()


def open_columns(source: Any) -> CoreColumns | HDUColumns:
    """The column source of a path or file object: pixtab's core when it takes the file."""
    if isinstance(source, (str, os.PathLike)):
        try:
            return CoreColumns(source)
        except PixtabError:
            pass  # not a pipeline table by the core's checks: read it as MPDAF would
    return HDUColumns(source)
