"""Per-row decode of the ``origin`` column, streamed in chunks (``pixtab decode-origin``).

Each row gives its IFU, slice (CCD or SKY numbering), detector x and y (1-based
as the DRS counts, or 0-based as MPDAF), and its exposure: 0 on a
single-exposure table, n on combined tables (EXPn FIRST <= row <= EXPn LAST).
x uses the XOFFSET keyword of the row's own exposure, IFU and slice; a missing
or non-integer keyword is an :class:`InputError` naming it. Optional absolute
RA/Dec come from :class:`pixtab.core.format.sky.SkyFrame`.

Also here: :func:`format_text`, which turns a chunk of columns into CSV/TSV
bytes with numpy only (no per-row Python), and the column specs of a FITS
output of the decode.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CriteriaError, InputError
from ..fits.cards import printable
from ..fits.hdu import ColumnSpec
from ..fits.header import Header
from ..format import origin as org
from ..format.expr import UNSIGNED32
from ..format.origin import DetectorDecoder
from ..format.sky import SkyFrame
from ..format.slicer import sky_slice
from ..io.scan import Scan, Selection
from ..io.table import PixTable
from ..io.rowfilter import exposures_at
from ..io.writer import PixtableWriter
from ..progress import SILENT, Progress

log = logging.getLogger(__name__)

#: decoded columns, in output order (``ra``, ``dec`` follow with ``sky``)
DECODED = ("row", "ifu", "slice", "xpix", "ypix", "exp")
_DTYPES = {"row": "int64", "ifu": "int16", "slice": "int16", "xpix": "int16", "ypix": "int16", "exp": "int16"}

@dataclass(frozen=True)
class DecodeOptions:
    """What to decode: detector base, slice numbering, sky positions, copied columns."""

    zero_based: bool = False
    slice_numbering: str = "ccd"  # 'ccd' or 'sky'
    sky: bool = False
    with_columns: tuple[str, ...] = ()


def decode_rows(
    decoder: DetectorDecoder, origin: np.ndarray, start: int, opts: DecodeOptions, rows: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The decoded columns (row, ifu, slice, xpix, ypix, exp) of rows ``start..``, or of the
    table rows ``rows`` (indices)."""
    origin = np.asarray(origin)
    if rows is None:
        d = decoder.decode(origin, start)
        x, y, exp = d["x"], d["y"], d["exp"]
        rows = np.arange(start, start + len(origin), dtype=np.int64)
    else:
        exp = exposures_at(decoder, rows)
        x, y = decoder.x(origin, exp), decoder.y(origin)
    if opts.zero_based:
        x -= 1
        y -= 1
    slc = org.get_slice(origin)
    return {
        "row": rows,
        "ifu": org.get_ifu(origin),
        "slice": sky_slice(slc) if opts.slice_numbering == "sky" else slc,
        "xpix": x.astype(np.int16),
        "ypix": y.astype(np.int16),
        "exp": exp,
    }


def decode_literals(
    values: Sequence[int], zero_based: bool = False, slice_numbering: str = "ccd"
) -> dict[str, np.ndarray]:
    """Fields of literal origin values: ifu, slice, ypix and xslice (x needs a file's XOFFSET)."""
    fields = [org.decode_value(v) for v in values]  # range-checked
    for v, f in zip(values, fields):
        if not (1 <= f["ifu"] <= org.N_IFUS and 1 <= f["slice"] <= org.N_SLICES):
            log.warning("origin value %s has IFU %d and slice %d: not a MUSE pixel (IFU 1..%d, slice 1..%d)",
                        hex(int(v)), f["ifu"], f["slice"], org.N_IFUS, org.N_SLICES)
    slc = np.array([f["slice"] for f in fields], dtype=np.int16)
    return {
        "value": np.array([int(v) for v in values], dtype=np.int64),
        "ifu": np.array([f["ifu"] for f in fields], dtype=np.int16),
        "slice": sky_slice(slc) if slice_numbering == "sky" else slc,
        "ypix": np.array([f["y"] - int(zero_based) for f in fields], dtype=np.int16),
        "xslice": np.array([f["xslice"] for f in fields], dtype=np.int16),
    }


def check_with_columns(pt: PixTable, names: Sequence[str]) -> tuple[str, ...]:
    """Validate the names of columns to copy (lower-cased, in the given order, no repeats)."""
    out: list[str] = []
    for name in names:
        n = name.strip().lower()
        if not n:
            continue
        if n in DECODED or n in ("ra", "dec"):  # a usage error whatever the table
            raise CriteriaError(f"column '{name}' clashes with a decoded column of that name", field="with")
        if n not in pt.columns:  # needs the table: exit 1, as an image of a missing column
            raise InputError(pt.path, f"no column '{name}' (have: {', '.join(pt.columns)})", field="with")
        if pt.columns[n].dtype.kind not in "iuf":
            raise InputError(pt.path, f"column '{name}' is not numeric", field="with")
        if n not in out:
            out.append(n)
    return tuple(out)


def check_options(pt: PixTable, opts: DecodeOptions) -> None:
    """Raise before any output when ``opts`` cannot work on ``pt`` (e.g. sky positions without a centre)."""
    if opts.sky:
        SkyFrame.of(pt)


def output_specs(pt: PixTable, opts: DecodeOptions) -> list[ColumnSpec]:
    """Columns of the decoded output, with dtypes and units (for a FITS table)."""
    specs = [ColumnSpec(n, np.dtype(_DTYPES[n]), "pix" if n in ("xpix", "ypix") else None) for n in DECODED]
    if opts.sky:
        unit = "deg" if pt.wcs != "pixel" else pt.columns["xpos"].unit
        specs += [ColumnSpec("ra", np.dtype("float64"), unit), ColumnSpec("dec", np.dtype("float64"), unit)]
    for n in opts.with_columns:
        c = pt.columns[n]
        specs.append(ColumnSpec(n, c.dtype, c.unit))
    return specs


def iter_decoded(
    pt: PixTable,
    opts: DecodeOptions,
    start: int = 0,
    stop: int | None = None,
    selection: Selection | None = None,
    progress: Progress = SILENT,
    chunk_rows: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield the decoded columns of rows ``start..stop-1`` (only the selected ones, given a
    selection) chunk by chunk; ``progress`` advances by the rows read.

    Keys follow :func:`output_specs` (copied columns under their lower-case names).
    """
    if opts.slice_numbering not in ("ccd", "sky"):
        raise CriteriaError(f"slice numbering must be 'ccd' or 'sky', not {opts.slice_numbering!r}", field="slice_numbering")
    decoder = DetectorDecoder.of(pt)
    frame = SkyFrame.of(pt) if opts.sky else None
    names = ["origin"] + (["xpos", "ypos"] if frame else []) + [n for n in opts.with_columns if n != "origin"]
    impossible, first = 0, -1  # rows whose IFU or slice cannot be a MUSE one
    for rows, arrays in Scan(pt, progress=progress, chunk_rows=chunk_rows).copy(selection, list(dict.fromkeys(names)), start, stop):
        if isinstance(rows, range):
            out = decode_rows(decoder, arrays["origin"], rows.start, opts)
        else:
            out = decode_rows(decoder, arrays["origin"], 0, opts, rows)
        bad = (out["ifu"] < 1) | (out["ifu"] > org.N_IFUS) | (out["slice"] < 1) | (out["slice"] > org.N_SLICES)
        if bad.any():
            first = int(out["row"][np.argmax(bad)]) if impossible == 0 else first
            impossible += int(bad.sum())
        if frame is not None:
            out["ra"], out["dec"] = frame.radec(arrays["xpos"], arrays["ypos"])
        for n in opts.with_columns:
            out[n] = arrays[n]
        yield out
    if impossible:
        log.warning(
            "%s: %d row(s) have an origin with an IFU outside 1..%d or a slice outside 1..%d (first: row %d)",
            pt.path, impossible, org.N_IFUS, org.N_SLICES, first,
        )


def iter_text_output(
    pt: PixTable,
    opts: DecodeOptions,
    start: int,
    stop: int,
    sep: str = ",",
    progress: Progress = SILENT,
    selection: Selection | None = None,
) -> Iterator[bytes]:
    """The CSV/TSV output of rows ``start..stop-1`` (the selected ones): the header line, then
    blocks of lines. Bit masks (dq) print unsigned."""
    yield header_line([s.name for s in output_specs(pt, opts)], sep)
    progress.start("decode", Scan(pt).rows_to_read(selection, start, stop))
    for cols in iter_decoded(pt, opts, start, stop, selection=selection, progress=progress):
        yield from iter_text(text_columns(cols), sep)


def write_fits_table(
    fd: int,
    pt: PixTable,
    opts: DecodeOptions,
    start: int,
    stop: int,
    progress: Progress = SILENT,
    selection: Selection | None = None,
) -> None:
    """Stream the decoded rows ``start..stop-1`` (the selected ones) to ``fd`` as a FITS binary table."""
    header = Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    header["PIXTABLE"] = (printable(os.path.basename(pt.path)), "source pixel table")
    header["ROWSTART"] = (start, "0-based index of the first row decoded")
    header["PIXBASE"] = (0 if opts.zero_based else 1, "first detector pixel (1: DRS, FITS; 0: MPDAF)")
    header["SLICENUM"] = (opts.slice_numbering.upper(), "slice numbering: CCD (origin field) or SKY")
    writer = PixtableWriter(fd, header, output_specs(pt, opts), count_between(selection, start, stop), layout="table")
    progress.start("decode", Scan(pt).rows_to_read(selection, start, stop))
    for cols in iter_decoded(pt, opts, start, stop, selection=selection, progress=progress):
        writer.write(cols)
    writer.finish(header)


def count_between(selection: Selection | None, start: int, stop: int) -> int:
    """Rows of ``start..stop-1`` decoded: the selected ones (all without a selection)."""
    return max(0, stop - start) if selection is None else selection.count_between(start, stop)


# -- text output ---------------------------------------------------------------


def _int_matrix(values: np.ndarray) -> np.ndarray:
    """ASCII digits of integers as an (n, w) uint8 matrix, 0 bytes where there is no character."""
    v = np.asarray(values).astype(np.int64)
    neg = v < 0
    v = np.abs(v)
    width = len(str(int(v.max()))) if v.size else 1
    if width < 10:
        v = v.astype(np.int32)  # faster arithmetic
    sign = int(bool(neg.any()))
    mat = np.zeros((len(v), width + sign), dtype=np.uint8)
    for i in range(width):
        digit = (v % 10).astype(np.uint8) + ord("0")
        mat[:, width + sign - 1 - i] = digit if i == 0 else np.where(v > 0, digit, 0)
        v //= 10
    if sign:
        mat[:, 0] = np.where(neg, ord("-"), 0)
    return mat


def _float_matrix(values: np.ndarray) -> np.ndarray:
    """Shortest round-trip text of floats as an (n, w) uint8 matrix (0 = no character)."""
    a = np.asarray(values)
    if a.dtype == np.float64:
        # Python's repr is the shortest exact form and faster than numpy's astype('S').
        text = np.array(list(map(float.__repr__, a.tolist())), dtype="S")
    else:
        text = a.astype("S")  # numpy: shortest repr of the float32 value
    if text.itemsize == 0 or not len(text):
        return np.zeros((len(a), 1), dtype=np.uint8)
    return text.view(np.uint8).reshape(len(a), text.itemsize)


def format_text(columns: Sequence[np.ndarray], sep: str = ",") -> bytes:
    """One text line per row: the columns joined by ``sep``, each line ending in a newline.

    Integers print as integers, floats in their shortest exact form ("nan",
    "inf" included). Fully vectorised: every row is laid out in a byte matrix
    and the padding is squeezed out at once.
    """
    if not columns or not len(columns[0]):
        return b""
    n = len(columns[0])
    sep_col = np.full((n, 1), ord(sep), dtype=np.uint8)
    blocks: list[np.ndarray] = []
    for i, col in enumerate(columns):
        if i:
            blocks.append(sep_col)
        blocks.append(_float_matrix(col) if np.asarray(col).dtype.kind == "f" else _int_matrix(col))
    blocks.append(np.full((n, 1), ord("\n"), dtype=np.uint8))
    mat = np.concatenate(blocks, axis=1)
    return mat[mat != 0].tobytes()


def iter_text(columns: Sequence[np.ndarray], sep: str = ",", block_rows: int = 1 << 18) -> Iterator[bytes]:
    """:func:`format_text` over blocks of rows, to bound the formatting buffers."""
    n = len(columns[0]) if columns else 0
    for a in range(0, n, block_rows):
        yield format_text([c[a : a + block_rows] for c in columns], sep)


def text_columns(columns: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Columns as text prints them: bit masks (dq) unsigned, so that bit 31 does not read as a sign."""
    return [c.view(np.uint32) if n in UNSIGNED32 and c.dtype == np.int32 else c for n, c in columns.items()]


def header_line(names: Sequence[str], sep: str = ",") -> bytes:
    """The header line of a text output."""
    return (sep.join(names) + "\n").encode("ascii")
