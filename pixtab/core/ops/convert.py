"""Convert a pixel table between the image and the BINTABLE layout, bit-exactly.

Binary inputs are never decoded: values move as the big-endian bytes stored in
the file. The BINTABLE layout interleaves rows, so a layout change is a
transposition. It runs as a three-stage pipeline over reusable buffers: a
reader thread fills chunk ``i + 1`` with positional reads, the main thread
transposes chunk ``i`` in cache-sized row blocks (one strided numpy copy per
column and block, no byteswap), and a writer thread writes chunk ``i - 1``
with positional writes. A same-layout conversion copies the data with
``copy_file_range``. The primary header and any extension that is not a
column (``PIXTABLE_FLAT_FIELD``...) are copied byte for byte.

MPDAF's ASCII tables (``save_as_ima=False``) are parsed as float64/int64; they
are written with the pipeline's 32-bit types only where every value converts
exactly, i.e. the float32 reproduces the text at the text's own precision
(or, on request, rounded to the nearest float32).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from ..errors import InputError
from ..fits.structure import padded
from ..io.table import OPTIONAL, REQUIRED, Column, PixTable, pread_into
from ..io.writer import ColumnSpec, PixtableWriter, pwrite_all

log = logging.getLogger(__name__)

LAYOUTS = ("image", "table")
#: bytes per pipeline buffer (binary inputs). The four buffers in use stay well inside
#: the L3 cache: with 8 MiB buffers image -> table ran 2x slower (measured at 8e7 rows).
CHUNK_BYTES = 2**22
#: rows per transposition block: both sides (32 Ki rows x 28-32 bytes each) fit a 2 MiB L2 cache
BLOCK_ROWS = 2**15
#: rows per chunk when parsing ASCII tables (about 100 bytes of text per row)
ASCII_CHUNK_ROWS = 2**18
_INT32 = np.iinfo(np.int32)


@dataclass
class ConvertResult:
    """What a conversion wrote (the CLI prints it as JSON)."""

    input: str
    output: str
    source_layout: str
    layout: str
    rows: int
    columns: list[str]
    extensions: list[str] = field(default_factory=list)
    rounded_values: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "input": self.input,
            "output": self.output,
            "from": self.source_layout,
            "to": self.layout,
            "rows": self.rows,
            "columns": self.columns,
            "extensions": self.extensions,
            "rounded_values": self.rounded_values,
            "seconds": round(self.seconds, 3),
        }


def default_layout(source_layout: str) -> str:
    """The other layout; ASCII tables become images (the pipeline's default)."""
    return "table" if source_layout == "image" else "image"


class _VerbatimHeader(fits.Header):
    """A header that serialises to the exact bytes it was read from."""

    def __init__(self, raw: bytes, path: str) -> None:
        super().__init__()
        try:
            self._raw = raw.decode("ascii")
        except UnicodeDecodeError:
            raise InputError(path, "primary header contains non-ASCII bytes (not valid FITS)") from None

    def tostring(self, sep: str = "", endcard: bool = True, padding: bool = True) -> str:  # noqa: D102
        return self._raw


def _raw_bytes(fd: int, offset: int, size: int, path: str) -> bytes:
    buf = np.empty(size, dtype=np.uint8)
    pread_into(fd, buf, offset, path)
    return buf.tobytes()


def _copy_range(src: int, dst: int, count: int, src_off: int, dst_off: int, path: str) -> None:
    """Copy ``count`` bytes from ``src`` (the file ``path``) to ``dst``, in the kernel when it can."""
    while count > 0:
        try:
            n = os.copy_file_range(src, dst, min(count, 1 << 30), src_off, dst_off)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM):
                raise
            n = 0
        if n <= 0:  # unsupported, or the input ended early: finish in user space
            buf = np.empty(min(count, 1 << 24), dtype=np.uint8)
            while count > 0:
                part = buf[: min(count, len(buf))]
                pread_into(src, part, src_off, path)
                pwrite_all(dst, part.data, dst_off)
                count, src_off, dst_off = count - len(part), src_off + len(part), dst_off + len(part)
            return
        count, src_off, dst_off = count - n, src_off + n, dst_off + n


def _unsupported_fields(pt: PixTable) -> list[str]:
    """BINTABLE fields the reader skipped (vectors, strings...): they cannot be carried."""
    if pt.layout != "table":
        return []
    hdr = pt.hdus[1].header
    names = [str(hdr.get(f"TTYPE{i}", f"col{i}")).strip() for i in range(1, int(hdr.get("TFIELDS", 0)) + 1)]
    return [f"{n} (TFORM {str(hdr[f'TFORM{i}']).strip()})" for i, n in enumerate(names, 1) if n.lower() not in pt.columns]


def _out_name(name: str, stored: str) -> str:
    """Pipeline columns get the DRS's lower-case names; others keep theirs."""
    return name if name in REQUIRED or name in OPTIONAL else stored


def _specs(pt: PixTable) -> list[ColumnSpec]:
    specs = []
    for c in pt.columns.values():
        dtype = c.dtype
        if pt.layout == "ascii-table":
            if dtype.kind == "S":
                raise InputError(pt.path, f"column '{c.stored_name}' holds text: a pixel table stores only numbers")
            dtype = np.dtype("float32" if dtype.kind == "f" else "int32")
        specs.append(ColumnSpec(_out_name(c.name, c.stored_name), dtype, c.unit))
    return specs


def convert(
    pt: PixTable,
    fd: int,
    layout: str | None = None,
    *,
    output: str = "",
    round_float32: bool = False,
    progress: Callable[[int], None] | None = None,
    chunk_rows: int | None = None,
    block_rows: int = BLOCK_ROWS,
) -> ConvertResult:
    """Write ``pt`` to the open, empty file ``fd`` in ``layout`` (default: the other one).

    Every column keeps its values, dtype and unit string; the primary header
    and the extra extensions are copied byte for byte. For ASCII inputs,
    ``round_float32`` accepts float values that are not exactly float32 and
    rounds them (the count is returned as ``rounded_values``). ``chunk_rows``
    and ``block_rows`` tune the transposition (default: 4 MiB buffers).
    """
    t0 = time.perf_counter()
    layout = layout or default_layout(pt.layout)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    bad = _unsupported_fields(pt)
    if bad:
        raise InputError(pt.path, f"cannot convert non-scalar or text field(s): {', '.join(bad)}")
    images = [h.extname or f"HDU {h.index}" for h in pt.extra_hdus if h.xtension == "IMAGE"]
    if layout == "image" and images:
        raise InputError(pt.path, f"extension(s) {', '.join(images)} are images: in the image layout they would be read as columns")
    specs = _specs(pt)
    if pt.layout != "ascii-table":  # text columns are narrowed to the pipeline's types below
        pt.check_pipeline_dtypes()
    h0 = pt.hdus[0]
    if h0.data_size:
        raise InputError(pt.path, f"the primary HDU has {h0.data_size} bytes of data: a pixel table's has none")
    primary = _VerbatimHeader(_raw_bytes(pt.fd, 0, h0.data_offset, pt.path), pt.path)
    try:
        writer = PixtableWriter(fd, primary, specs, pt.nrows, layout)
    except ValueError as exc:  # e.g. a unit string too long for one header card
        raise InputError(pt.path, f"cannot write the extension headers: {exc}") from None
    rounded = 0
    if pt.layout == "ascii-table":
        rounded = _convert_ascii(pt, writer, round_float32, progress)
    elif pt.layout == layout:
        _copy_same_layout(pt, writer, progress)
    else:
        _transpose(pt, writer, chunk_rows, block_rows, progress)
    writer.written = pt.nrows
    writer.finish(primary)
    _append_extra_hdus(pt, fd, writer.size)
    return ConvertResult(
        pt.path,
        output,
        pt.layout,
        layout,
        pt.nrows,
        [s.name for s in specs],
        [h.extname or f"HDU {h.index}" for h in pt.extra_hdus],
        rounded,
        time.perf_counter() - t0,
    )


def _append_extra_hdus(pt: PixTable, fd: int, pos: int) -> None:
    """Copy every non-column extension (header and padded data) to the end of the output.

    Padding missing from the end of the input becomes zeros.
    """
    end = os.fstat(pt.fd).st_size
    for h in pt.extra_hdus:
        size = h.data_offset + padded(h.data_size) - h.header_offset
        log.debug("%s: copying extension %s (%d bytes)", pt.path, h.extname or h.index, size)
        _copy_range(pt.fd, fd, min(size, end - h.header_offset), h.header_offset, pos, pt.path)
        pos += size
    os.ftruncate(fd, pos)


# -- binary inputs --------------------------------------------------------------


def _copy_same_layout(pt: PixTable, writer: PixtableWriter, progress: Callable[[int], None] | None) -> None:
    """Image to image or table to table: the data bytes do not change."""
    if pt.layout == "image":
        for c, spec in zip(pt.columns.values(), writer.columns):
            nbytes = pt.nrows * c.dtype.itemsize
            _copy_range(pt.fd, writer.fd, nbytes, c.offset, writer.column_offset(spec.name), pt.path)
    else:
        nbytes = pt.nrows * _input_row_dtype(pt).itemsize
        _copy_range(pt.fd, writer.fd, nbytes, pt.hdus[1].data_offset, writer.column_offset(""), pt.path)
    if progress:
        progress(pt.nrows)


class _Buffers:
    """A reusable chunk buffer with big-endian per-column views, for either layout.

    Image layout: each column is a contiguous run of the buffer. Table layout:
    the buffer holds whole rows of ``row_dtype`` and each column is a strided view.
    """

    def __init__(self, layout: str, row_dtype: np.dtype, rows: int) -> None:
        self.layout, self.row_dtype, self.rows = layout, row_dtype, rows
        self.buf = np.empty(rows * row_dtype.itemsize, dtype=np.uint8)

    def views(self, n: int) -> list[np.ndarray]:
        """Views of the first ``n`` rows of every column, in ``row_dtype`` order."""
        names = self.row_dtype.names or ()
        if self.layout == "table":
            recs = self.buf[: n * self.row_dtype.itemsize].view(self.row_dtype)
            return [recs[name] for name in names]
        out, pos = [], 0
        for name in names:
            dt = self.row_dtype.fields[name][0]
            out.append(self.buf[pos : pos + n * dt.itemsize].view(dt))
            pos += self.rows * dt.itemsize
        return out


def _input_row_dtype(pt: PixTable) -> np.dtype:
    """Big-endian record dtype of one input row (packed columns for the image layout)."""
    if pt.layout == "image":
        return np.dtype([(c.name, c.dtype.newbyteorder(">")) for c in pt.columns.values()])
    return pt.record_dtype()


def _transpose(
    pt: PixTable, writer: PixtableWriter, chunk_rows: int | None, block_rows: int, progress: Callable[[int], None] | None
) -> None:
    """Image to table or table to image: read, transpose and write chunks concurrently."""
    columns = list(pt.columns.values())
    in_dtype = _input_row_dtype(pt)
    widest = max(in_dtype.itemsize, writer.row_dtype.itemsize)
    chunk_rows = max(1, min(chunk_rows or CHUNK_BYTES // widest, pt.nrows))
    inputs = [_Buffers(pt.layout, in_dtype, chunk_rows) for _ in range(2)]
    outputs = [_Buffers(writer.layout, writer.row_dtype, chunk_rows) for _ in range(2)]
    bounds = [(a, min(a + chunk_rows, pt.nrows)) for a in range(0, pt.nrows, chunk_rows)]

    def fill(buffers: _Buffers, a: int, b: int) -> list[np.ndarray]:
        views = buffers.views(b - a)
        if pt.layout == "table":
            width = in_dtype.itemsize
            pread_into(pt.fd, buffers.buf[: (b - a) * width], pt.hdus[1].data_offset + a * width, pt.path)
        else:
            for c, view in zip(columns, views):
                pread_into(pt.fd, view, c.offset + a * c.dtype.itemsize, pt.path)
        return views

    def emit(buffers: _Buffers, a: int, b: int) -> None:
        if writer.layout == "table":
            width = writer.row_dtype.itemsize
            pwrite_all(writer.fd, buffers.buf[: (b - a) * width].data, writer.column_offset("") + a * width)
            return
        for spec, view in zip(writer.columns, buffers.views(b - a)):
            pwrite_all(writer.fd, view.data, writer.column_offset(spec.name) + a * view.itemsize)

    if not bounds:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="pixtab-read") as rpool, ThreadPoolExecutor(
        1, thread_name_prefix="pixtab-write"
    ) as wpool:
        writes: list[Future[None] | None] = [None, None]
        reading = rpool.submit(fill, inputs[0], *bounds[0])
        for i, (a, b) in enumerate(bounds):
            src = reading.result()
            if i + 1 < len(bounds):
                reading = rpool.submit(fill, inputs[(i + 1) % 2], *bounds[i + 1])
            slot = i % 2
            previous = writes[slot]
            if previous is not None:
                previous.result()  # this output buffer is free again
            _copy_blocks(outputs[slot].views(b - a), src, b - a, block_rows)
            writes[slot] = wpool.submit(emit, outputs[slot], a, b)
            if progress:
                progress(b - a)
        for f in writes:
            if f is not None:
                f.result()


def _copy_blocks(dst: list[np.ndarray], src: list[np.ndarray], n: int, block: int) -> None:
    """``dst[k][:n] = src[k][:n]`` in row blocks, so that the interleaved side stays in cache."""
    pairs = list(zip(dst, src))
    for a in range(0, n, block):
        b = min(a + block, n)
        for d, s in pairs:
            d[a:b] = s[a:b]


# -- ASCII inputs ----------------------------------------------------------------

_ASCII_PRECISION = re.compile(r"^\s*([EDF])\d+\.(\d+)")


def _convert_ascii(
    pt: PixTable, writer: PixtableWriter, round_float32: bool, progress: Callable[[int], None] | None
) -> int:
    """Parse, check and write an ASCII table; return the number of rounded values."""
    rounded = 0
    for chunk in pt.iter_chunks(None, chunk_rows=ASCII_CHUNK_ROWS):
        arrays = {}
        for c, spec in zip(pt.columns.values(), writer.columns):
            if c.dtype.kind == "i":
                arrays[spec.name] = _to_int32(pt.path, c.stored_name, chunk[c.name], chunk.start)
            else:
                arrays[spec.name], n = _to_float32(pt.path, c, chunk[c.name], chunk.start, round_float32)
                rounded += n
        writer.write(arrays)
        if progress:
            progress(len(chunk))
    return rounded


def _to_int32(path: str, name: str, values: np.ndarray, start: int) -> np.ndarray:
    bad = np.flatnonzero((values < _INT32.min) | (values > _INT32.max))
    if len(bad):
        r = int(bad[0])
        raise InputError(path, f"column '{name}': value {int(values[r])} at row {start + r} does not fit in int32")
    return values.astype(np.int32)


def _text_tolerance(fits_format: str, values: np.ndarray) -> np.ndarray | float:
    """Half a unit in the last digit of each value's text (0 when the format says nothing)."""
    m = _ASCII_PRECISION.match(fits_format)
    if not m:
        return 0.0
    decimals = int(m[2])
    if m[1] == "F":  # Fw.d: fixed decimals
        return 0.5 * 10.0 ** -decimals
    # Ew.d / Dw.d as astropy writes them: one digit before the point, d after it.
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.abs(values)))
    return np.where(np.isfinite(exponent), 0.5 * 10.0 ** (exponent - decimals), 0.0)


def _to_float32(path: str, c: Column, values: np.ndarray, start: int, round_float32: bool) -> tuple[np.ndarray, int]:
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
        hint = "" if round_float32 else " (--round-float32 accepts the nearest float32)"
        raise InputError(
            path,
            f"column '{c.stored_name}': value {float(values[r])!r} at row {start + r} ({c.fits_format}) "
            f"is not exactly representable as float32{hint}",
        )
    return out, int(np.count_nonzero(changed))


__all__ = ["ConvertResult", "LAYOUTS", "convert", "default_layout"]
