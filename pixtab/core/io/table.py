"""Open a pixel table and stream its columns in row chunks.

Three on-disk layouts are read (format doc section 2):

* ``image``: one IMAGE extension per column, found by EXTNAME (case-insensitive);
* ``table``: one BINTABLE with interleaved rows;
* ``ascii-table``: the ASCII ``TABLE`` that MPDAF's ``save_as_ima=False`` writes.

Data are read with positional reads into freshly allocated chunk buffers, never
through a memory map, so resident memory is bounded by the chunk size whatever
the table size.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..format import keywords as kwmod
from ..errors import InputError
from ..fits.structure import HDUInfo, int_value, scan
from ..format.keywords import PixtableKeywords

log = logging.getLogger(__name__)

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
DEFAULT_CHUNK_ROWS = 2**21  # 2 Mi rows: 8 MiB per float32 column

_BITPIX_DTYPE = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}
_TFORM_DTYPE = {"E": "f4", "J": "i4", "D": "f8", "K": "i8", "I": "i2", "B": "u1"}
_TFORM_RE = re.compile(r"^\s*(\d*)([A-Z])")
_ASCII_RE = re.compile(r"^\s*([AIFED])(\d+)")


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

    @property
    def pipeline_ok(self) -> bool:
        """True when the dtype is the one the MUSE pipeline requires."""
        want = PIPELINE_DTYPES.get(self.name)
        return want is None or self.dtype == np.dtype(want)


@dataclass
class Chunk:
    """Rows ``start..stop-1`` of some columns, as native-endian arrays."""

    start: int
    stop: int
    arrays: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __len__(self) -> int:
        return self.stop - self.start


def pread_into(fd: int, buf: np.ndarray, offset: int, path: str) -> None:
    """Fill ``buf`` from ``offset`` with positional reads (thread-safe)."""
    view = memoryview(buf).cast("B")
    done = 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise InputError(path, f"unexpected end of file at byte {offset + done}")
        done += n


class PixTable:
    """A pixel table opened for streaming reads. Use as a context manager.

    Attributes: ``path``, ``nrows``, ``layout``, ``columns`` (dict in file order),
    ``primary_header``, ``keywords`` (:class:`PixtableKeywords`), ``extra_hdus``
    (HDUs that are not columns, e.g. ``PIXTABLE_FLAT_FIELD``), ``hdus``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.hdus: list[HDUInfo] = scan(path)
        self.primary_header: fits.Header = self.hdus[0].header
        if len(self.hdus) < 2:
            raise InputError(self.path, "no extensions: not a pixel table")
        kind = self.hdus[1].xtension
        self.extra_hdus: list[HDUInfo] = []
        if kind == "IMAGE":
            self.layout = "image"
            self.columns, self.nrows = self._image_columns()
        elif kind == "BINTABLE":
            self.layout = "table"
            self.columns, self.nrows = self._table_columns(ascii=False)
        elif kind == "TABLE":
            self.layout = "ascii-table"
            self.columns, self.nrows = self._table_columns(ascii=True)
        else:
            raise InputError(self.path, f"HDU 1 is a {kind!r} extension: not a pixel table")
        missing = [c for c in REQUIRED if c not in self.columns]
        if missing:
            raise InputError(self.path, f"missing column(s): {', '.join(missing)}")
        if self.columns["origin"].dtype.kind not in "iu":
            raise InputError(
                self.path,
                f"column 'origin' is {self.columns['origin'].dtype.name}: it must be an integer column (it encodes IFU, slice and pixel)",
            )
        self.keywords: PixtableKeywords = kwmod.parse(self.primary_header, self.path)
        if self.keywords.pipeline_type not in ("GEOFULL", "SIMPLE"):
            found = self.keywords.pipeline_type
            raise InputError(
                self.path,
                "keyword 'ESO DRS MUSE PIXTABLE TYPE' is "
                + ("missing" if found is None else f"{found!r}")
                + " (expected GEOFULL or SIMPLE): not a pixel table",
            )
        kwmod.check_exposures(self.keywords.exposures, self.nrows, self.path)
        if self.keywords.weighted and "weight" not in self.columns:
            # MPDAF fails on such a table; a lost last extension (cut copy) also looks like this.
            log.warning("%s: keyword '%sWEIGHTED' is T but there is no weight column", self.path, kwmod.PREFIX)
        self.wcs = self._wcs_state()
        self._fd: int | None = None

    # -- structure ------------------------------------------------------------

    def _image_columns(self) -> tuple[dict[str, Column], int]:
        columns: dict[str, Column] = {}
        nrows: int | None = None
        for h in self.hdus[1:]:
            hdr = h.header
            if h.xtension != "IMAGE":
                self.extra_hdus.append(h)
                continue
            name = h.extname
            if not name:
                raise InputError(self.path, f"image extension {h.index} has no EXTNAME (cannot tell which column it is)")
            naxis = int(hdr.get("NAXIS", 0))
            dims = tuple(int(hdr.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1))
            if naxis != 2 or dims[0] != 1:
                shape = tuple(reversed(dims))
                raise InputError(
                    self.path,
                    f"column '{name}' has shape {shape}: the pipeline stores columns as (nrows, 1) images (NAXIS1 = 1)",
                )
            if self._number(h, "BSCALE", 1) != 1 or self._number(h, "BZERO", 0) != 0:
                raise InputError(self.path, f"column '{name}' is scaled (BSCALE/BZERO): not supported")
            bitpix = int(hdr["BITPIX"])
            dtype = np.dtype(_BITPIX_DTYPE[bitpix])
            if nrows is None:
                nrows = dims[1]
            elif dims[1] != nrows:
                raise InputError(self.path, f"column '{name}' has {dims[1]} rows, the first column has {nrows}")
            lname = name.lower()
            if lname in columns:
                raise InputError(self.path, f"column '{name}' appears twice")
            unit = hdr.get("BUNIT")
            columns[lname] = Column(
                lname, name, dtype, None if unit is None else str(unit), h.index, h.data_offset, fits_format=str(bitpix)
            )
        return columns, int(nrows or 0)

    def _table_columns(self, ascii: bool) -> tuple[dict[str, Column], int]:
        h = self.hdus[1]
        hdr = h.header
        self.extra_hdus = list(self.hdus[2:])
        if hdr.get("NAXIS") != 2:
            raise InputError(self.path, f"HDU 1: a table needs NAXIS = 2, not {hdr.get('NAXIS')!r}")
        self._row_bytes = int(hdr["NAXIS1"])
        nrows = int(hdr["NAXIS2"])
        columns: dict[str, Column] = {}
        offset = 0
        for i in range(1, self._int(h, "TFIELDS", 0) + 1):
            name = str(hdr.get(f"TTYPE{i}", f"col{i}")).strip()
            if f"TFORM{i}" not in hdr:
                raise InputError(self.path, f"HDU 1: keyword TFORM{i} is missing (TFIELDS = {hdr['TFIELDS']})")
            tform = str(hdr[f"TFORM{i}"]).strip()
            unit = hdr.get(f"TUNIT{i}")
            unit = None if unit is None else str(unit)
            if self._number(h, f"TSCAL{i}", 1) != 1 or self._number(h, f"TZERO{i}", 0) != 0:
                raise InputError(self.path, f"column '{name}' is scaled (TSCAL/TZERO): not supported")
            if ascii:
                m = _ASCII_RE.match(tform)
                if not m:
                    raise InputError(self.path, f"column '{name}' has unsupported ASCII format {tform!r}")
                code, width = m[1], int(m[2])
                dtype = np.dtype({"I": "i8", "A": "S%d" % width}.get(code, "f8"))
                col = Column(name.lower(), name, dtype, unit, h.index, self._int(h, f"TBCOL{i}") - 1, width, tform)
            else:
                m = _TFORM_RE.match(tform)
                repeat = int(m[1] or 1) if m else 0
                code = m[2] if m else "?"
                if code not in _TFORM_DTYPE or repeat != 1:
                    # A field we cannot represent as one number per row: skip it, loudly.
                    log.warning("%s: column '%s' (TFORM %s) is not a scalar number; it is ignored", self.path, name, tform)
                    offset += _field_bytes(tform)
                    continue
                dtype = np.dtype(_TFORM_DTYPE[code])
                col = Column(name.lower(), name, dtype, unit, h.index, offset, fits_format=tform)
                offset += dtype.itemsize
            if col.name in columns:
                raise InputError(self.path, f"column '{name}' appears twice")
            columns[col.name] = col
        if not ascii and offset != self._row_bytes:
            raise InputError(self.path, f"BINTABLE row is {self._row_bytes} bytes but its columns add up to {offset}")
        return columns, nrows

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

    def _wcs_state(self) -> str:
        """'pixel', 'projected', 'positioned' or 'unknown', from the xpos/ypos units (DRS rule)."""
        ux = (self.columns["xpos"].unit or "").strip()[:4]
        uy = (self.columns["ypos"].unit or "").strip()[:4]
        state = {"pix": "pixel", "rad": "projected", "deg": "positioned"}.get(ux, "unknown") if ux == uy else "unknown"
        if ux != uy:
            log.warning("%s: xpos unit %r and ypos unit %r differ", self.path, ux, uy)
        expected_kw = {"projected": "projected", "positioned": "positioned"}.get(state)
        kwval = (self.keywords.wcs_keyword or "").lower()
        if (expected_kw is None and kwval) or (expected_kw and not kwval.startswith(expected_kw)):
            log.warning(
                "%s: WCS keyword %r disagrees with the xpos unit %r; using the unit (%s)",
                self.path,
                self.keywords.wcs_keyword,
                ux,
                state,
            )
        return state

    # -- public helpers -------------------------------------------------------

    @property
    def has_weight(self) -> bool:
        return "weight" in self.columns

    @property
    def flat_field(self) -> HDUInfo | None:
        """The PIXTABLE_FLAT_FIELD extension, if any."""
        for h in self.extra_hdus:
            if (h.extname or "").upper() == FLAT_FIELD_EXTNAME:
                return h
        return None

    @property
    def centre(self) -> tuple[float, float] | None:
        """Field centre (RA, Dec) in degrees: RA/DEC if projected, CRVAL1/2 if positioned."""
        k = self.keywords
        if self.wcs == "projected" and k.ra is not None and k.dec is not None:
            return (k.ra, k.dec)
        if self.wcs == "positioned" and k.crval1 is not None and k.crval2 is not None:
            return (k.crval1, k.crval2)
        return None

    def hdu_bytes(self, h: HDUInfo) -> bytes:
        """One whole HDU (header, data, padding) as it should be on disk.

        Padding missing from the end of a cut file is restored as zeros, so the
        bytes can be appended to an output as a complete HDU.
        """
        size = h.end_offset - h.header_offset
        blob = os.pread(self.fd, size, h.header_offset)
        if len(blob) < h.data_offset - h.header_offset + h.data_size:
            raise InputError(self.path, f"HDU {h.index} is truncated")
        return blob.ljust(size, b"\0")

    def check_pipeline_dtypes(self) -> None:
        """Raise :class:`InputError` when a known column has a type the pipeline rejects."""
        for c in self.columns.values():
            if not c.pipeline_ok:
                raise InputError(
                    self.path,
                    f"column '{c.name}' is {c.dtype.name}; the MUSE pipeline requires {PIPELINE_DTYPES[c.name]}",
                )

    # -- reading --------------------------------------------------------------

    def __enter__(self) -> "PixTable":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def fd(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except OSError as exc:
                raise InputError(self.path, f"cannot open: {exc.strerror}") from None
        return self._fd

    def _names(self, names: Iterable[str] | None) -> list[str]:
        if names is None:
            return list(self.columns)
        out = []
        for n in names:
            if n.lower() not in self.columns:
                raise InputError(self.path, f"no column '{n}' (have: {', '.join(self.columns)})")
            out.append(n.lower())
        return out

    def read(
        self, names: Iterable[str] | None, start: int = 0, stop: int | None = None, native: bool = True
    ) -> dict[str, np.ndarray]:
        """Read rows ``start..stop-1`` of the named columns (all if None).

        With ``native=False`` the values keep the file's big-endian byte order
        (no byteswap): contiguous arrays for the image layout, strided views
        into one row buffer for the table layout (no copy). ASCII tables are
        parsed to native numbers either way.
        """
        stop = self.nrows if stop is None else min(stop, self.nrows)
        start = max(0, min(start, stop))
        cols = self._names(names)
        n = stop - start
        if self.layout == "image":
            out = {}
            for name in cols:
                c = self.columns[name]
                buf = np.empty(n, dtype=c.dtype.newbyteorder(">"))
                pread_into(self.fd, buf, c.offset + start * c.dtype.itemsize, self.path)
                if native:
                    buf = buf.byteswap(inplace=True).view(c.dtype) if c.dtype.itemsize > 1 else buf.view(c.dtype)
                out[name] = buf
            return out
        raw = np.empty((n, self._row_bytes), dtype=np.uint8)
        pread_into(self.fd, raw, self.hdus[1].data_offset + start * self._row_bytes, self.path)
        if self.layout == "table":
            # One strided, byte-swapping copy per column out of the interleaved rows.
            rows = raw.reshape(-1).view(self.record_dtype(cols))
            if not native:
                return {name: rows[name] for name in cols}
            return {name: rows[name].astype(self.columns[name].dtype) for name in cols}
        return {name: self._ascii_field(raw, self.columns[name]) for name in cols}

    def record_dtype(self, cols: list[str] | None = None) -> np.dtype:
        """Big-endian record dtype of one BINTABLE row, exposing ``cols`` (default: all)."""
        cols = list(self.columns) if cols is None else cols
        return np.dtype(
            {
                "names": cols,
                "formats": [self.columns[n].dtype.newbyteorder(">") for n in cols],
                "offsets": [self.columns[n].offset for n in cols],
                "itemsize": self._row_bytes,
            }
        )

    def _ascii_field(self, raw: np.ndarray, c: Column) -> np.ndarray:
        text = np.ascontiguousarray(raw[:, c.offset : c.offset + c.width]).view(f"S{c.width}").reshape(-1)
        if c.dtype.kind == "S":
            return text
        # Fortran-style exponents ('D') are legal in ASCII tables.
        text = np.char.replace(np.char.upper(text), b"D", b"E") if c.fits_format.startswith("D") else text
        try:
            return text.astype(c.dtype)
        except ValueError as exc:
            raise InputError(self.path, f"column '{c.name}': unparsable ASCII value ({exc})") from None

    def iter_chunks(
        self,
        names: Iterable[str] | None = None,
        start: int = 0,
        stop: int | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        prefetch: bool = True,
        native: bool = True,
    ) -> Iterator[Chunk]:
        """Yield :class:`Chunk` objects covering rows ``start..stop-1`` in order.

        With ``prefetch`` the next chunk is read in a background thread while the
        caller works on the current one (positional reads release the GIL).
        ``native=False``: big-endian values as stored (see :meth:`read`).
        """
        stop = self.nrows if stop is None else min(stop, self.nrows)
        cols = self._names(names)
        bounds = [(a, min(a + chunk_rows, stop)) for a in range(start, stop, chunk_rows)]
        yield from self._iter_bounds(cols, bounds, prefetch, native)

    def iter_ranges(self, names: Iterable[str] | None, ranges: Sequence[tuple[int, int]], prefetch: bool = True) -> Iterator[Chunk]:
        """Like :meth:`iter_chunks` but for explicit ``(start, stop)`` row ranges."""
        yield from self._iter_bounds(self._names(names), list(ranges), prefetch)

    def _iter_bounds(
        self, cols: list[str], bounds: list[tuple[int, int]], prefetch: bool, native: bool = True
    ) -> Iterator[Chunk]:
        if not bounds:
            return
        if not prefetch or len(bounds) == 1:
            for a, b in bounds:
                yield Chunk(a, b, self.read(cols, a, b, native))
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixtab-read") as pool:
            future = pool.submit(self.read, cols, *bounds[0], native)
            for i, (a, b) in enumerate(bounds):
                arrays = future.result()
                if i + 1 < len(bounds):
                    future = pool.submit(self.read, cols, *bounds[i + 1], native)
                yield Chunk(a, b, arrays)


def _field_bytes(tform: str) -> int:
    m = _TFORM_RE.match(tform)
    if not m:
        return 0
    repeat = int(m[1] or 1)
    size = {"L": 1, "X": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}
    if m[2] == "X":
        return -(-repeat // 8)
    return repeat * size.get(m[2], 0)
