"""Rebuild a pixel table from a ``pixtab export`` (Parquet or Arrow IPC), bit for bit.

The export's metadata (:class:`~pixtab.core.io.arrow.ExportMeta`) holds the
primary header as FITS bytes, each column's FITS name, type and unit, and the
other extensions; the columns come from the file (dq back from uint32 to the
int32 bits it was). Whatever a pixel table would lack is refused, saying what,
and so is an export whose rows or metadata changed since it was written: the
export's footer holds a digest of both, checked while the rows are copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..fits.hdu import ColumnSpec
from ..format.columns import REQUIRED
from ..io.arrow import ArrowInput, ExportMeta, RowDigest
from ..io.writer import PixtableWriter
from ..progress import SILENT, Progress


@dataclass
class RebuildResult:
    input: str
    output: str
    layout: str
    rows: int
    columns: list[str]
    extensions: list[str]

    def as_dict(self) -> dict[str, object]:
        return {"input": self.input, "output": self.output, "from": "arrow", "to": self.layout, "rows": self.rows,
                "columns": self.columns, "extensions": self.extensions}  # fmt: skip


def check_rebuildable(src: ArrowInput) -> ExportMeta:
    """The export metadata of ``src``; an InputError saying what is missing for a pixel table."""
    meta = src.meta
    if meta is None:
        present = [n for n in REQUIRED if n in src.names]
        what = "" if len(present) < len(REQUIRED) else "; it has the columns, but a pixel table also needs its header"
        raise InputError(
            src.path,
            f"not written by pixtab export (no pixtab metadata: no primary header to rebuild a pixel table from{what})",
        )
    missing = [c.name for c in meta.columns if c.name not in src.names]
    missing += [n for n in REQUIRED if n not in {c.fits_name for c in meta.columns} and n not in missing]
    if missing:
        raise InputError(
            src.path,
            f"cannot rebuild a pixel table: column(s) {', '.join(missing)} missing "
            "(exported with a column subset?); export every column to convert back",
        )
    for c in meta.columns:
        have, want = src.field_dtype(c.name), np.dtype(c.dtype)
        if have is None or have.itemsize != want.itemsize or have.kind not in ("iu" if want.kind in "iu" else want.kind):
            raise InputError(src.path, f"column '{c.name}' is {src.schema.field(c.name).type}, a pixel table needs {want.name}")
    if src.nrows != meta.rows:
        raise InputError(
            src.path, f"has {src.nrows} rows, the export had {meta.rows}: its header (EXPn, LIMITS) would not match the rows"
        )
    if src.rows_record is None:
        raise InputError(
            src.path,
            "has no row checksum of pixtab export (written or rewritten by another program): its rows may not be "
            "in the order its header (EXPn FIRST/LAST) describes; export the FITS table again",
        )
    return meta


def rebuild(src: ArrowInput, fd: int, layout: str | None = None, output: str = "", progress: Progress = SILENT) -> RebuildResult:
    """Write the pixel table of a pixtab export to the open, empty file ``fd``."""
    meta = check_rebuildable(src)
    if meta.layout not in ("image", "table"):
        raise InputError(
            src.path,
            f"exported from an {meta.layout} (MPDAF's text table): convert that FITS file itself, "
            "which checks that every value is exactly float32",
        )
    layout = layout or meta.layout
    hdus = meta.hdu_bytes()
    images = [n for n, b in zip(meta.extra_names, hdus) if b.startswith(b"XTENSION= 'IMAGE")]
    if layout == "image" and images:
        raise InputError(src.path, f"extension(s) {', '.join(images)} are images: in the image layout they would be read as columns")
    try:
        header = meta.primary_header.encode("ascii")
    except UnicodeEncodeError:
        raise InputError(src.path, "the primary header in the metadata is not ASCII (not valid FITS)") from None
    specs = [ColumnSpec(c.fits_name, np.dtype(c.dtype), c.unit) for c in meta.columns]
    try:
        writer = PixtableWriter(fd, header, specs, src.nrows, layout, hdus)
    except ValueError as exc:
        raise InputError(src.path, f"cannot write the pixel table: {exc}") from None
    progress.start("convert", src.nrows)
    digest = RowDigest([c.name for c in meta.columns])
    for batch in src.iter_batches([c.name for c in meta.columns]):
        digest.update(batch)
        writer.write({c.fits_name: batch[c.name].view(c.dtype) for c in meta.columns})
        progress.advance(len(batch[meta.columns[0].name]))
    if digest.record(src.meta_raw or b"") != src.rows_record:
        raise InputError(
            src.path,
            "the rows or the metadata changed since the export (row checksum differs: reordered, edited or "
            "damaged): its header (EXPn FIRST/LAST, XOFFSET) would describe other rows; export the FITS table again",
        )
    writer.finish(header)
    return RebuildResult(src.path, output, layout, src.nrows, [s.name for s in specs], meta.extra_names)


