"""The on-disk layouts of a pixel table, as objects (format doc section 2).

Reading (:func:`read_layout` picks the class from HDU 1):

* :class:`ImageLayout`: one IMAGE extension per column, found by EXTNAME;
* :class:`BinTableLayout`: one BINTABLE with interleaved rows;
* :class:`AsciiTableLayout`: the ASCII ``TABLE`` MPDAF's ``save_as_ima=False`` writes.

Each parses its columns, and reads rows *typed* (native-endian arrays per
column, :meth:`Layout.read`) or *raw* (the stored big-endian bytes into a
:class:`RowBuffer`, :meth:`Layout.read_raw`). The matching write side is in
:mod:`pixtab.core.io.writer` (:class:`~pixtab.core.io.writer.ImagePlacement`,
:class:`~pixtab.core.io.writer.TablePlacement`: typed chunks or raw row
buffers), so a layout change is raw rows from one layout to the other. Values
are read with positional reads into fresh buffers, never through a memory map.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..fits.dtypes import dtype_of_ascii, dtype_of_bitpix, dtype_of_tform, field_bytes, parse_ascii_tform
from ..fits.hdu import pread_into
from ..fits.structure import HDUInfo, int_value
from ..format.columns import FLAT_FIELD_EXTNAME

#: ``buffers(slot, n, dtype)`` -> a work array of ``n`` values (:meth:`~.rowsource.Scratch.get`)
Buffers = Callable[[str, int, np.dtype], np.ndarray]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    """One column: its name, native dtype, unit string and where its bytes are."""

    name: str  # lower-case canonical name
    stored_name: str  # name as written in the file
    dtype: np.dtype  # native-endian dtype of the values pixtab returns
    unit: str | None  # unit string exactly as stored
    hdu: int
    offset: int  # image: byte offset of the data; table: byte offset in the row
    width: int = 0  # ascii-table: field width in characters
    fits_format: str = ""  # TFORM or BITPIX as written


class RowBuffer:
    """A reusable buffer of ``rows`` rows with big-endian per-column views.

    ``packed``: each column is a contiguous run of the buffer (image layout);
    otherwise the buffer holds whole rows of ``row_dtype`` and each column is a
    strided view (table layout).
    """

    def __init__(self, row_dtype: np.dtype, rows: int, packed: bool) -> None:
        self.row_dtype, self.rows, self.packed = row_dtype, rows, packed
        self.buf = np.empty(rows * row_dtype.itemsize, dtype=np.uint8)

    def views(self, n: int) -> list[np.ndarray]:
        """Views of the first ``n`` rows of every column, in ``row_dtype`` order."""
        names = self.row_dtype.names or ()
        if not self.packed:
            recs = self.buf[: n * self.row_dtype.itemsize].view(self.row_dtype)
            return [recs[name] for name in names]
        out, pos = [], 0
        for name in names:
            dt = self.row_dtype.fields[name][0]
            out.append(self.buf[pos : pos + n * dt.itemsize].view(dt))
            pos += self.rows * dt.itemsize
        return out

    def rows_bytes(self, n: int) -> np.ndarray:
        """The first ``n`` whole rows (interleaved buffers only)."""
        return self.buf[: n * self.row_dtype.itemsize]


class Layout:
    """How one file stores its columns; subclasses parse and read one layout."""

    name = ""
    packed = True  # raw rows: columns one after the other (True) or interleaved
    from_text = False  # values are decimal text (parsed to float64/int64, narrowed on output)

    def __init__(self, path: str, hdus: list[HDUInfo]) -> None:
        self.path = path
        self.hdus = hdus
        self.columns: dict[str, Column] = {}
        self.nrows = 0
        self.extra_hdus: list[HDUInfo] = []

    def _int(self, h: HDUInfo, name: str, default: int | None = None) -> int:
        """Integer keyword of HDU ``h``; InputError naming it when missing or not an integer."""
        try:
            return int_value(h.header, name, default, minimum=0)
        except ValueError as exc:
            raise InputError(self.path, f"HDU {h.index}: {exc}") from None

    def _number(self, h: HDUInfo, name: str, default: float) -> float:
        """Numeric keyword of HDU ``h`` (e.g. BZERO); InputError naming it when not a number."""
        value = h.header.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(self.path, f"HDU {h.index}: keyword {name} = {value!r} is not a number")
        return float(value)

    def _add(self, col: Column) -> None:
        if col.name in self.columns:
            raise InputError(self.path, f"column '{col.stored_name}' appears twice")
        self.columns[col.name] = col

    def raw_dtype(self, cols: list[str] | None = None) -> np.dtype:
        """Big-endian record dtype of one stored row (packed columns for the image layout)."""
        cols = list(self.columns) if cols is None else cols
        return np.dtype([(n, self.columns[n].dtype.newbyteorder(">")) for n in cols])

    def read(self, fd: int, cols: list[str], start: int, stop: int, native: bool = True, buffers: Buffers | None = None
             ) -> dict[str, np.ndarray]:
        """Typed read of rows ``start..stop-1`` (``native=False``: big-endian as stored).
        ``buffers(name, n, dtype)``: work arrays to read a column into, where a layout can
        (the image layout's columns; reused, they save a page fault per 4 KiB)."""
        raise NotImplementedError

    def read_raw(self, fd: int, buf: RowBuffer, start: int, stop: int) -> list[np.ndarray]:
        """Stored bytes of rows ``start..stop-1`` of every column into ``buf``; its views."""
        raise NotImplementedError

    def raw_extents(self) -> list[tuple[int, int]]:
        """(offset, bytes) of the stored data, in the order a matching placement lays it out."""
        raise NotImplementedError


class ImageLayout(Layout):
    name = "image"
    packed = True

    def __init__(self, path: str, hdus: list[HDUInfo]) -> None:
        super().__init__(path, hdus)
        nrows: int | None = None
        for h in hdus[1:]:
            hdr = h.header
            if h.xtension != "IMAGE" or (h.extname or "").upper() == FLAT_FIELD_EXTNAME:
                self.extra_hdus.append(h)  # a flat field is never a column, whatever its shape
                continue
            name = h.extname
            if not name:
                raise InputError(path, f"image extension {h.index} has no EXTNAME (cannot tell which column it is)")
            naxis = int(hdr.get("NAXIS", 0))
            dims = tuple(int(hdr.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1))
            if naxis != 2 or dims[0] != 1:
                shape = tuple(reversed(dims))
                raise InputError(
                    path, f"column '{name}' has shape {shape}: the pipeline stores columns as (nrows, 1) images (NAXIS1 = 1)"
                )
            if self._number(h, "BSCALE", 1) != 1 or self._number(h, "BZERO", 0) != 0:
                raise InputError(path, f"column '{name}' is scaled (BSCALE/BZERO): not supported")
            bitpix = int(hdr["BITPIX"])
            if nrows is None:
                nrows = dims[1]
            elif dims[1] != nrows:
                raise InputError(path, f"column '{name}' has {dims[1]} rows, the first column has {nrows}")
            unit = hdr.get("BUNIT")
            self._add(
                Column(name.lower(), name, dtype_of_bitpix(bitpix), None if unit is None else str(unit), h.index, h.data_offset, fits_format=str(bitpix))
            )
        self.nrows = int(nrows or 0)

    def read(self, fd: int, cols: list[str], start: int, stop: int, native: bool = True, buffers: Buffers | None = None
             ) -> dict[str, np.ndarray]:
        out = {}
        for name in cols:
            c = self.columns[name]
            stored = c.dtype.newbyteorder(">")
            buf = np.empty(stop - start, dtype=stored) if buffers is None else buffers("read " + name, stop - start, stored)
            pread_into(fd, buf, c.offset + start * c.dtype.itemsize, self.path)
            if native:
                buf = buf.byteswap(inplace=True).view(c.dtype) if c.dtype.itemsize > 1 else buf.view(c.dtype)
            out[name] = buf
        return out

    def read_raw(self, fd: int, buf: RowBuffer, start: int, stop: int) -> list[np.ndarray]:
        views = buf.views(stop - start)
        for c, view in zip(self.columns.values(), views):
            pread_into(fd, view, c.offset + start * c.dtype.itemsize, self.path)
        return views

    def raw_extents(self) -> list[tuple[int, int]]:
        return [(c.offset, self.nrows * c.dtype.itemsize) for c in self.columns.values()]


class _RowsLayout(Layout):
    """A table HDU (binary or ASCII) with every column in each fixed-width row."""

    ascii = False

    def __init__(self, path: str, hdus: list[HDUInfo]) -> None:
        super().__init__(path, hdus)
        h = hdus[1]
        hdr = h.header
        self.extra_hdus = list(hdus[2:])
        if hdr.get("NAXIS") != 2:
            raise InputError(path, f"HDU 1: a table needs NAXIS = 2, not {hdr.get('NAXIS')!r}")
        self.row_bytes = int(hdr["NAXIS1"])
        self.nrows = int(hdr["NAXIS2"])
        self.data_offset = h.data_offset
        offset = 0
        for i in range(1, self._int(h, "TFIELDS", 0) + 1):
            name = str(hdr.get(f"TTYPE{i}", f"col{i}")).strip()
            if f"TFORM{i}" not in hdr:
                raise InputError(path, f"HDU 1: keyword TFORM{i} is missing (TFIELDS = {hdr['TFIELDS']})")
            tform = str(hdr[f"TFORM{i}"]).strip()
            unit = hdr.get(f"TUNIT{i}")
            unit = None if unit is None else str(unit)
            if self._number(h, f"TSCAL{i}", 1) != 1 or self._number(h, f"TZERO{i}", 0) != 0:
                raise InputError(path, f"column '{name}' is scaled (TSCAL/TZERO): not supported")
            offset = self._field(h, i, name, tform, unit, offset)
        if not self.ascii and offset != self.row_bytes:
            raise InputError(path, f"BINTABLE row is {self.row_bytes} bytes but its columns add up to {offset}")

    def _field(self, h: HDUInfo, i: int, name: str, tform: str, unit: str | None, offset: int) -> int:
        raise NotImplementedError

    def _raw_rows(self, fd: int, start: int, stop: int) -> np.ndarray:
        raw = np.empty((stop - start, self.row_bytes), dtype=np.uint8)
        pread_into(fd, raw, self.data_offset + start * self.row_bytes, self.path)
        return raw


class BinTableLayout(_RowsLayout):
    name = "table"
    packed = False

    def _field(self, h: HDUInfo, i: int, name: str, tform: str, unit: str | None, offset: int) -> int:
        dtype = dtype_of_tform(tform)
        if dtype is None:
            # A field we cannot represent as one number per row: skip it, loudly.
            log.warning("%s: column '%s' (TFORM %s) is not a scalar number; it is ignored", self.path, name, tform)
            return offset + field_bytes(tform)
        self._add(Column(name.lower(), name, dtype, unit, h.index, offset, fits_format=tform))
        return offset + dtype.itemsize

    def raw_dtype(self, cols: list[str] | None = None) -> np.dtype:
        """Big-endian record dtype of one stored row, exposing ``cols`` (default: all)."""
        cols = list(self.columns) if cols is None else cols
        return np.dtype(
            {
                "names": cols,
                "formats": [self.columns[n].dtype.newbyteorder(">") for n in cols],
                "offsets": [self.columns[n].offset for n in cols],
                "itemsize": self.row_bytes,
            }
        )

    def unsupported_fields(self) -> list[str]:
        """Fields skipped when reading (vectors, strings...): they cannot be carried."""
        hdr = self.hdus[1].header
        names = [str(hdr.get(f"TTYPE{i}", f"col{i}")).strip() for i in range(1, int(hdr.get("TFIELDS", 0)) + 1)]
        return [f"{n} (TFORM {str(hdr[f'TFORM{i}']).strip()})" for i, n in enumerate(names, 1) if n.lower() not in self.columns]

    def read(self, fd: int, cols: list[str], start: int, stop: int, native: bool = True, buffers: Buffers | None = None
             ) -> dict[str, np.ndarray]:
        # One strided, byte-swapping copy per column out of the interleaved rows.
        rows = self._raw_rows(fd, start, stop).reshape(-1).view(self.raw_dtype(cols))
        if not native:
            return {name: rows[name] for name in cols}
        return {name: rows[name].astype(self.columns[name].dtype) for name in cols}

    def read_raw(self, fd: int, buf: RowBuffer, start: int, stop: int) -> list[np.ndarray]:
        pread_into(fd, buf.rows_bytes(stop - start), self.data_offset + start * self.row_bytes, self.path)
        return buf.views(stop - start)

    def raw_extents(self) -> list[tuple[int, int]]:
        return [(self.data_offset, self.nrows * self.row_bytes)]


class AsciiTableLayout(_RowsLayout):
    name = "ascii-table"
    packed = False
    ascii = True
    from_text = True

    def _field(self, h: HDUInfo, i: int, name: str, tform: str, unit: str | None, offset: int) -> int:
        parsed = parse_ascii_tform(tform)
        if parsed is None:
            raise InputError(self.path, f"column '{name}' has unsupported ASCII format {tform!r}")
        code, width = parsed
        col = Column(name.lower(), name, dtype_of_ascii(code, width), unit, h.index, self._int(h, f"TBCOL{i}") - 1, width, tform)
        self._add(col)
        return offset

    def read(self, fd: int, cols: list[str], start: int, stop: int, native: bool = True, buffers: Buffers | None = None
             ) -> dict[str, np.ndarray]:
        """Parsed values (float64, int64 or bytes) whatever ``native`` says."""
        raw = self._raw_rows(fd, start, stop)
        return {name: self._field_values(raw, self.columns[name]) for name in cols}

    def _field_values(self, raw: np.ndarray, c: Column) -> np.ndarray:
        text = np.ascontiguousarray(raw[:, c.offset : c.offset + c.width]).view(f"S{c.width}").reshape(-1)
        if c.dtype.kind == "S":
            return text
        # Fortran-style exponents ('D') are legal in ASCII tables.
        text = np.char.replace(np.char.upper(text), b"D", b"E") if c.fits_format.startswith("D") else text
        try:
            return text.astype(c.dtype)
        except ValueError as exc:
            raise InputError(self.path, f"column '{c.name}': unparsable ASCII value ({exc})") from None


def read_layout(path: str, hdus: list[HDUInfo]) -> Layout:
    """The layout of an opened file, from the type of HDU 1."""
    kind = hdus[1].xtension
    cls = {"IMAGE": ImageLayout, "BINTABLE": BinTableLayout, "TABLE": AsciiTableLayout}.get(kind)
    if cls is None:
        raise InputError(path, f"HDU 1 is a {kind!r} extension: not a pixel table")
    return cls(path, hdus)
