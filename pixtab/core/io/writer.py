"""Stream a pixel table to disk in the image or BINTABLE layout.

The row count is known before writing (extract counts in a selection pass), so
the whole file structure is laid out up front and every chunk goes to its final
place with positional writes: each column of the image layout at its own
offset, or interleaved rows for the table layout. The primary header is written
last (:meth:`PixtableWriter.finish`) so that keywords that depend on the data,
such as LIMITS, can be filled in after the data pass; its size in blocks is
reserved from the initial header.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..fits.structure import BLOCK, header_bytes, padded

_DTYPE_BITPIX = {"float32": -32, "int32": 32, "float64": -64, "int64": 64, "int16": 16, "uint8": 8}
_DTYPE_TFORM = {"float32": "1E", "int32": "1J", "float64": "1D", "int64": "1K", "int16": "1I", "uint8": "1B"}


@dataclass(frozen=True)
class ColumnSpec:
    """A column to write: name (written verbatim), native dtype and unit string (verbatim)."""

    name: str
    dtype: np.dtype
    unit: str | None = None


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


def _card_value(value: str) -> str:
    """Quote a FITS string value exactly as given (no astropy re-rendering)."""
    return "'" + value.replace("'", "''").ljust(8) + "'"


def _raw_header(cards: list[tuple[str, str]]) -> bytes:
    """Build a header from (keyword, already formatted value) pairs."""
    lines = [f"{k:<8}= {v:>20}" if not v.startswith("'") else f"{k:<8}= {v}" for k, v in cards]
    for line in lines:
        if len(line) > 80:
            raise ValueError(f"header card too long: {line!r}")
    text = "".join(line.ljust(80) for line in lines) + "END".ljust(80)
    return text.ljust(padded(len(text)), " ").encode("ascii")


def image_header(spec: ColumnSpec, nrows: int) -> bytes:
    """Header of one column's IMAGE extension, as the DRS writes it."""
    cards = [
        ("XTENSION", "'IMAGE   '"),
        ("BITPIX", str(_DTYPE_BITPIX[spec.dtype.name])),
        ("NAXIS", "2"),
        ("NAXIS1", "1"),
        ("NAXIS2", str(nrows)),
        ("PCOUNT", "0"),
        ("GCOUNT", "1"),
        ("EXTNAME", _card_value(spec.name)),
    ]
    if spec.unit is not None:
        cards.append(("BUNIT", _card_value(spec.unit)))
    return _raw_header(cards)


def table_header(specs: Sequence[ColumnSpec], nrows: int) -> bytes:
    """Header of the single BINTABLE of the table layout."""
    width = sum(s.dtype.itemsize for s in specs)
    cards = [
        ("XTENSION", "'BINTABLE'"),
        ("BITPIX", "8"),
        ("NAXIS", "2"),
        ("NAXIS1", str(width)),
        ("NAXIS2", str(nrows)),
        ("PCOUNT", "0"),
        ("GCOUNT", "1"),
        ("TFIELDS", str(len(specs))),
    ]
    for i, s in enumerate(specs, 1):
        cards.append((f"TTYPE{i}", _card_value(s.name)))
        cards.append((f"TFORM{i}", _card_value(_DTYPE_TFORM[s.dtype.name])))
        if s.unit is not None:
            cards.append((f"TUNIT{i}", _card_value(s.unit)))
    return _raw_header(cards)


class PixtableWriter:
    """Write ``nrows`` rows of ``columns`` to the open file ``fd``.

    Call :meth:`write` with chunks (dicts of arrays, in row order) until all
    rows are written, then :meth:`finish` with the final primary header.
    ``extra_hdus`` are complete, padded HDUs (header + data bytes) appended
    after the columns, e.g. ``PIXTABLE_FLAT_FIELD``.
    """

    def __init__(
        self,
        fd: int,
        primary_header: fits.Header,
        columns: Sequence[ColumnSpec],
        nrows: int,
        layout: str = "image",
        extra_hdus: Sequence[bytes] = (),
    ) -> None:
        if layout not in ("image", "table"):
            raise ValueError(f"unknown layout {layout!r}")
        self.fd = fd
        self.columns = list(columns)
        self.nrows = int(nrows)
        self.layout = layout
        self.written = 0
        self._primary_size = len(header_bytes(primary_header))
        pos = self._primary_size
        self._offsets: dict[str, int] = {}
        if layout == "image":
            for spec in self.columns:
                hdr = image_header(spec, self.nrows)
                pwrite_all(fd, hdr, pos)
                pos += len(hdr)
                self._offsets[spec.name] = pos
                pos += padded(self.nrows * spec.dtype.itemsize)
        else:
            hdr = table_header(self.columns, self.nrows)
            pwrite_all(fd, hdr, pos)
            pos += len(hdr)
            self._offsets["<rows>"] = pos
            pos += padded(self.nrows * self.row_dtype.itemsize)
        for blob in extra_hdus:
            pwrite_all(fd, blob, pos)
            pos += len(blob)
        self.size = pos
        # Fix the final size now: padding is zeros, and a full disk or a file-size
        # limit shows up here before any real work.
        os.ftruncate(fd, pos)

    @property
    def row_dtype(self) -> np.dtype:
        """Big-endian record dtype of one output row (the table layout's row)."""
        return np.dtype([(s.name, s.dtype.newbyteorder(">")) for s in self.columns])

    def column_offset(self, name: str) -> int:
        """File offset of row 0 of column ``name`` (image layout) or of the rows (table)."""
        return self._offsets[name if self.layout == "image" else "<rows>"]

    def write(self, arrays: dict[str, np.ndarray]) -> None:
        """Append one chunk of rows (every column, equal lengths, in row order)."""
        n = len(arrays[self.columns[0].name])
        if self.written + n > self.nrows:
            raise ValueError(f"writing {self.written + n} rows into a table of {self.nrows}")
        if n == 0:
            return
        if self.layout == "image":
            for spec in self.columns:
                data = np.ascontiguousarray(arrays[spec.name], dtype=spec.dtype.newbyteorder(">"))
                pwrite_all(self.fd, data.data, self._offsets[spec.name] + self.written * spec.dtype.itemsize)
        else:
            rows = np.empty(n, dtype=self.row_dtype)
            for spec in self.columns:
                rows[spec.name] = arrays[spec.name]
            pwrite_all(self.fd, rows.data, self._offsets["<rows>"] + self.written * self.row_dtype.itemsize)
        self.written += n

    def finish(self, primary_header: fits.Header) -> None:
        """Write the final primary header (same number of blocks as the initial one)."""
        if self.written != self.nrows:
            raise ValueError(f"wrote {self.written} of {self.nrows} rows")
        blob = header_bytes(primary_header)
        if len(blob) != self._primary_size:
            raise ValueError(
                f"primary header grew from {self._primary_size // BLOCK} to {len(blob) // BLOCK} blocks"
            )
        pwrite_all(self.fd, blob, 0)


def primary_header_for(header: fits.Header) -> fits.Header:
    """A copy of ``header`` fit to be a primary header of a data-less HDU."""
    out = header.copy()
    out["SIMPLE"] = True
    out["BITPIX"] = 8
    out["NAXIS"] = 0
    for k in [k for k in out if k.startswith("NAXIS") and k != "NAXIS"]:
        del out[k]
    if "EXTEND" not in out:
        out.insert("NAXIS", ("EXTEND", True), after=True)
    else:
        out["EXTEND"] = True
    return out
