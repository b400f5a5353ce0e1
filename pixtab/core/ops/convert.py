"""Convert a pixel table between the image and the BINTABLE layout, bit-exactly.

Convert is raw rows from layout A to layout B: binary inputs are never
decoded, values move as the big-endian bytes stored in the file
(:meth:`Layout.read_raw` -> :meth:`PixtableWriter.write_raw`). The BINTABLE
layout interleaves rows, so a layout change is a transposition. It runs as a
three-stage pipeline over reusable buffers: a reader thread fills chunk
``i + 1``, the main thread transposes chunk ``i`` in cache-sized row blocks
(one strided numpy copy per column and block, no byteswap), and a writer
thread writes chunk ``i - 1``. A same-layout conversion copies the data with
``copy_file_range`` (:meth:`PixtableWriter.copy_raw`). The primary header and
any extension that is not a column (``PIXTABLE_FLAT_FIELD``...) are copied
byte for byte.

MPDAF's ASCII tables (``save_as_ima=False``) are parsed, then narrowed to the
pipeline's 32-bit types by :func:`pixtab.core.format.columns.narrow` (the rule
extract uses too).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..fits.hdu import HDUCopy, pread_into
from ..fits.structure import CARD, padded
from ..format.columns import narrow, output_columns
from ..format.keywords import COMMENTARY
from ..io.layouts import BinTableLayout, RowBuffer
from ..io.scan import Scan
from ..io.scan.tuning import RING
from ..io.table import PixTable
from ..io.writer import PixtableWriter
from ..progress import SILENT, Progress

log = logging.getLogger(__name__)

#: bytes per pipeline buffer (binary inputs). The four buffers in use stay well inside
#: the L3 cache: with 8 MiB buffers image -> table ran 2x slower (measured at 8e7 rows).
CHUNK_BYTES = 2**22
#: rows per transposition block: both sides (32 Ki rows x 28-32 bytes each) fit a 2 MiB L2 cache
BLOCK_ROWS = 2**15
#: rows per chunk when parsing ASCII tables (about 100 bytes of text per row)
ASCII_CHUNK_ROWS = 2**18


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


def other_layout(source_layout: str) -> str:
    """The layout a conversion writes by default: the other one; ASCII tables become images."""
    return "table" if source_layout == "image" else "image"


def convert(
    pt: PixTable,
    fd: int,
    layout: str | None = None,
    *,
    output: str = "",
    round_float32: bool = False,
    progress: Progress = SILENT,
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
    layout = layout or other_layout(pt.layout)
    progress.start("convert", pt.nrows)
    source = pt.storage
    if isinstance(source, BinTableLayout) and source.unsupported_fields():
        bad = ", ".join(source.unsupported_fields())
        raise InputError(pt.path, f"cannot convert non-scalar or text field(s): {bad}")
    images = [h.extname or f"HDU {h.index}" for h in pt.extra_hdus if h.xtension == "IMAGE"]
    if layout == "image" and images:
        raise InputError(pt.path, f"extension(s) {', '.join(images)} are images: in the image layout they would be read as columns")
    from_text = pt.storage.from_text
    specs = output_columns(pt.columns.values(), from_text, pt.path)
    h0 = pt.hdus[0]
    if h0.data_size:
        raise InputError(pt.path, f"the primary HDU has {h0.data_size} bytes of data: a pixel table's has none")
    primary = _raw_bytes(pt.fd, 0, h0.data_offset, pt.path)
    try:
        primary = _first_cards_only(primary.decode("ascii")).encode("ascii")
    except UnicodeDecodeError:
        raise InputError(pt.path, "primary header contains non-ASCII bytes (not valid FITS)") from None
    extras = [HDUCopy(pt.fd, h, pt.path) for h in pt.extra_hdus]
    try:
        writer = PixtableWriter(fd, primary, specs, pt.nrows, layout, extras)
    except ValueError as exc:  # e.g. a unit string too long for one header card
        raise InputError(pt.path, f"cannot write the extension headers: {exc}") from None
    rounded = 0
    if from_text:
        rounded = _convert_text(pt, writer, round_float32, progress)
    elif source.packed == writer.placement.packed:
        writer.copy_raw(source, pt.fd)
        progress.advance(pt.nrows)
    else:
        _transpose(pt, writer, chunk_rows, block_rows, progress)
    writer.finish(primary)
    pt.check_unchanged()
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


def _first_cards_only(raw: str) -> str:
    """The header text without later cards of a keyword already seen (see keywords.COMMENTARY).

    Every other card keeps its exact bytes; the header is re-padded to whole blocks
    (it can only shrink). A header without duplicates is returned unchanged.
    """
    kept: list[str] = []
    seen: set[str] = set()
    dropped = dropping = False
    for i in range(0, len(raw), CARD):
        rec = raw[i : i + CARD]
        name = _card_keyword(rec)
        if name == "END":
            break
        if name != "CONTINUE":  # a CONTINUE card goes with the card before it
            dropping = name not in COMMENTARY and name in seen
            seen.add(name)
        dropped |= dropping
        if not dropping:
            kept.append(rec)
    else:
        return raw  # no END card: left to the reader's own checks
    if not dropped:
        return raw
    text = "".join(kept) + "END".ljust(CARD)
    return text.ljust(padded(len(text)))


def _card_keyword(rec: str) -> str:
    if rec.startswith("HIERARCH "):
        return " ".join(rec[9:].split("=", 1)[0].split()).upper()
    return rec[:8].strip().upper()


def _raw_bytes(fd: int, offset: int, size: int, path: str) -> bytes:
    buf = np.empty(size, dtype=np.uint8)
    pread_into(fd, buf, offset, path)
    return buf.tobytes()


def _transpose(
    pt: PixTable, writer: PixtableWriter, chunk_rows: int | None, block_rows: int, progress: Progress
) -> None:
    """Image to table or table to image: raw chunks read and transposed on the scan engine's
    workers into buffers reused by slot, written here in row order."""
    source = pt.storage
    in_dtype = source.raw_dtype()
    widest = max(in_dtype.itemsize, writer.placement.raw_dtype.itemsize)
    chunk_rows = max(1, min(chunk_rows or CHUNK_BYTES // widest, pt.nrows))
    spans = [(a, min(a + chunk_rows, pt.nrows)) for a in range(0, pt.nrows, chunk_rows)]
    ring = [(RowBuffer(in_dtype, chunk_rows, source.packed), writer.buffer(chunk_rows)) for _ in range(RING if spans else 0)]

    def transpose(k: int, span: tuple[int, int], scratch: object) -> RowBuffer:
        a, b = span
        raw, out = ring[k % RING]
        _copy_blocks(out.views(b - a), source.read_raw(pt.fd, raw, a, b), b - a, block_rows)
        return out

    for (a, b), out in Scan(pt).each(spans, transpose):
        writer.write_raw(out, b - a)
        progress.advance(b - a)


def _copy_blocks(dst: list[np.ndarray], src: list[np.ndarray], n: int, block: int) -> None:
    """``dst[k][:n] = src[k][:n]`` in row blocks, so that the interleaved side stays in cache."""
    pairs = list(zip(dst, src))
    for a in range(0, n, block):
        b = min(a + block, n)
        for d, s in pairs:
            d[a:b] = s[a:b]


def _convert_text(
    pt: PixTable, writer: PixtableWriter, round_float32: bool, progress: Progress
) -> int:
    """Parse, narrow and write an ASCII table; return the number of rounded values."""
    rounded = 0
    for chunk in Scan(pt).chunks(None, chunk_rows=ASCII_CHUNK_ROWS):
        arrays = {}
        for c, spec in zip(pt.columns.values(), writer.columns):
            arrays[spec.name], n = narrow(pt.path, c, chunk[c.name], chunk.start, round_float32)
            rounded += n
        writer.write(arrays)
        progress.advance(len(chunk))
    return rounded


__all__ = ["ConvertResult", "convert", "other_layout"]
