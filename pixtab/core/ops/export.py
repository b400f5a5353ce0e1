"""Export the (selected) rows of a pixel table to Parquet, Arrow IPC or CSV/TSV, and back.

:func:`prepare_export` selects (the scan engine's pass, as extract's), then
:meth:`Export.write` writes into the file the CLI opened: the needed columns
are read in the row blocks that hold selected rows (:meth:`Scan.copy`), decoded
fields and sky positions added, and the rows written in row groups of
:data:`ROW_GROUP_ROWS` (memory: about one row group, whatever the table).

A complete export (every table column) records what
:func:`pixtab.core.ops.rebuild.rebuild` needs
to write the pixel table again (:class:`~pixtab.core.io.arrow.ExportMeta`):
the input's primary header as it is (a selection updates it as extract does:
LIMITS, EXPn FIRST/LAST, MERGED; the flat-field extension is trimmed to the
wavelength cut), so that rebuilding an export equals extracting the same rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CriteriaError, InputError
from ..fits.structure import header_bytes
from ..format import origin as org
from ..format.columns import OPTIONAL, REQUIRED
from ..format.expr import COLUMNS
from ..format.keywords import key
from ..format.limits import LimitsAccumulator, finish_limits
from ..format.origin import DetectorDecoder
from ..format.sky import SkyFrame
from ..io.arrow import METADATA_KEY, ROWS_KEY, ColumnMeta, ExportMeta, RowDigest, require_pyarrow, stored_dtype
from ..io.rowfilter import decode_fields
from ..io.plan import PlanOptions
from ..io.scan import Scan, Selection
from ..io.criteria import Criteria
from ..io.table import PixTable
from ..progress import SILENT, Progress
from .decode import header_line, iter_text
from .extract import check_selection, output_header
from .extract import extra_hdus as extract_hdus


FORMATS = ("parquet", "arrow", "csv", "tsv")
#: file name endings and their format
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
            ".csv": "csv", ".tsv": "tsv"}  # fmt: skip
DECODED_FIELDS = ("ifu", "slice", "xpix", "ypix", "exp")
SKY_FIELDS = ("ra", "dec")
ROW_GROUP_ROWS = 1 << 21  # rows per Parquet row group / Arrow record batch
_DERIVED_DTYPES = {"row": "int64", "ifu": "int16", "slice": "int16", "xpix": "int16", "ypix": "int16",
                   "exp": "int16", "ra": "float64", "dec": "float64"}  # fmt: skip



def format_of(path: str) -> str | None:
    """The export format a file name asks for (by its ending), or None."""
    return SUFFIXES.get(os.path.splitext(path)[1].lower())


@dataclass(frozen=True)
class ExportRequest:
    """What to write: columns (None: every table column), decoded fields, sky positions, format."""

    columns: tuple[str, ...] | None = None
    decode: bool = False
    sky: bool = False
    fmt: str = "parquet"
    zero_based: bool = False
    slice_numbering: str = "ccd"
    row_group_rows: int = ROW_GROUP_ROWS


@dataclass
class ExportResult:
    input: str
    output: str
    format: str
    rows: int
    selected: int
    columns: list[str]
    rebuildable: bool
    bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def output_names(pt: PixTable, req: ExportRequest) -> list[str]:
    """The output columns, in order; unknown names are usage errors, absent columns input errors."""
    names = list(req.columns) if req.columns else list(pt.columns)
    names += [n for n in DECODED_FIELDS if req.decode and n not in names]
    names += [n for n in SKY_FIELDS if req.sky and n not in names]
    known = set(pt.columns) | set(DECODED_FIELDS) | set(SKY_FIELDS) | {"row"}
    for n in names:
        if n in known:
            continue
        if n in COLUMNS:
            raise InputError(pt.path, f"no '{n}' column in this table (columns: {', '.join(pt.columns)})", field="columns")
        raise CriteriaError(
            f"unknown column '{n}' (table columns: {', '.join(pt.columns)}; "
            f"decoded: {', '.join(DECODED_FIELDS)}; sky: ra, dec; row)",
            field="columns",
        )
    if len(set(names)) != len(names):
        raise CriteriaError(f"a column is named twice in {', '.join(names)}", field="columns")
    if set(SKY_FIELDS) & set(names):
        if SkyFrame.of(pt).is_pixel:
            raise InputError(pt.path, "pixel-unit table (positions in pixels): ra and dec are undefined", field="sky")
    return names


def _fits_name(pt: PixTable, name: str) -> str:
    """A column's name in a pixel table: the DRS's lower-case names, others as stored."""
    return name if name in REQUIRED or name in OPTIONAL else pt.columns[name].stored_name


def _fits_dtype(pt: PixTable, name: str) -> str:
    """A column's type as read (MPDAF's ASCII tables: float64/int64 as parsed)."""
    return pt.columns[name].dtype.name


def _field_name(pt: PixTable, name: str) -> str:
    return _fits_name(pt, name) if name in pt.columns else name


class _Rows:
    """Batches of output columns, handed to ``write`` a row group at a time (as a list of
    batches) in a background thread, so that encoding overlaps reading and decoding. At
    most one row group waits while another is written: memory stays about two row groups."""

    def __init__(self, write: Callable[[list[dict[str, np.ndarray]]], None], names: list[str], group: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.write, self.names, self.group = write, names, group
        self.pending: list[dict[str, np.ndarray]] = []
        self.count = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="pixtab-export")
        self._busy: Any = None

    def add(self, cols: dict[str, np.ndarray]) -> None:
        n = len(cols[self.names[0]])
        while self.count + n > self.group:  # split so that row groups are full
            k = self.group - self.count
            self.pending.append({name: a[:k] for name, a in cols.items()})
            self.count += k
            self.flush()
            cols, n = {name: a[k:] for name, a in cols.items()}, n - k
        if n:
            self.pending.append(cols)
            self.count += n
        if self.count >= self.group:
            self.flush()

    def flush(self) -> None:
        self.wait()
        if self.pending:
            self._busy = self._pool.submit(self.write, self.pending)
        self.pending, self.count = [], 0

    def wait(self) -> None:
        if self._busy is not None:
            busy, self._busy = self._busy, None
            busy.result()

    def close(self) -> None:
        try:
            self.flush()
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


@dataclass
class Export:
    """An export whose rows are selected, ready to be written to an open file (:meth:`write`)."""

    pt: PixTable
    criteria: Criteria
    req: ExportRequest
    names: list[str]
    selection: Selection | None
    scan: Scan

    @property
    def selected(self) -> int:
        return self.pt.nrows if self.selection is None else self.selection.count()

    def write(self, fd: int, output: str) -> ExportResult:
        """Write the file into ``fd`` (open, empty; ``output`` is its name for the result)."""
        pt, req, names, selection, progress = self.pt, self.req, self.names, self.selection, self.scan.progress
        table_cols = [n for n in names if n in pt.columns]
        complete = set(table_cols) == set(pt.columns)
        decoded = [n for n in names if n in DECODED_FIELDS]
        decoder = DetectorDecoder.of(pt) if decoded else None
        frame = SkyFrame.of(pt) if set(SKY_FIELDS) & set(names) else None
        read = list(dict.fromkeys(table_cols + (["origin"] if decoder else []) + (["xpos", "ypos"] if frame else [])))
        fields = [_field_name(pt, n) for n in names]
        dtypes = [np.dtype(_DERIVED_DTYPES[n]) if n not in pt.columns else stored_dtype(n, pt.columns[n].dtype) for n in names]

        # Rows that can be converted back carry a digest, so that a reordered or edited export is refused.
        digest = RowDigest([_field_name(pt, n) for n in pt.columns]) if complete and req.fmt in ("parquet", "arrow") else None

        def batches() -> Iterator[dict[str, np.ndarray]]:
            progress.start("export", self.scan.rows_to_read(selection))
            for rows, arrays in self.scan.copy(selection, read):
                out = {f: arrays[n].view(dt) for f, n, dt in zip(fields, names, dtypes) if n in table_cols}
                if decoder is not None:
                    sky_slices = req.slice_numbering == "sky"
                    out.update(decode_fields(decoder, arrays["origin"], lambda: rows, decoded, req.zero_based, sky_slices))
                if frame is not None:
                    out["ra"], out["dec"] = frame.radec(arrays["xpos"], arrays["ypos"])
                if "row" in names:
                    out["row"] = np.arange(rows.start, rows.stop, dtype=np.int64) if isinstance(rows, range) else rows
                if digest is not None:
                    digest.update(out)
                yield out

        meta = self._meta(complete, decoded) if req.fmt in ("parquet", "arrow") else None
        units = {f: (pt.columns[n].unit if n in pt.columns else {"xpix": "pix", "ypix": "pix", "ra": "deg", "dec": "deg"}.get(n))
                 for f, n in zip(fields, names)}  # fmt: skip
        with os.fdopen(os.dup(fd), "wb", buffering=1 << 20) as f:
            if req.fmt in ("csv", "tsv"):
                _write_text(f, fields, batches(), "\t" if req.fmt == "tsv" else ",")
            else:
                _write_arrow(f, req, fields, dtypes, units, batches(), meta, digest)  # type: ignore[arg-type]
        size = os.fstat(fd).st_size
        return ExportResult(pt.path, output, req.fmt, pt.nrows, self.selected, fields, complete and req.fmt != "csv", size)

    def _meta(self, complete: bool, decoded: list[str]) -> ExportMeta:
        """What a rebuild needs: a rebuildable selection gets extract's header and extensions."""
        pt, req, selection = self.pt, self.req, self.selection
        if selection is not None and complete:
            primary = header_bytes(_selection_header(self.scan, selection))
            hdus = extract_hdus(pt, self.criteria, as_bytes=True)
        else:
            primary = os.pread(pt.fd, pt.hdus[0].data_offset, 0)
            hdus = [pt.hdu_bytes(h) for h in pt.extra_hdus]
        # Every column of the table, exported or not: a rebuild says which are missing.
        cols = [ColumnMeta(_field_name(pt, n), _fits_name(pt, n), _fits_dtype(pt, n), c.unit) for n, c in pt.columns.items()]
        return ExportMeta(
            source=os.path.basename(pt.path),
            layout=pt.layout,
            rows=self.selected,
            primary_header=primary.decode("ascii", errors="replace"),
            columns=cols,
            extra_hdus=ExportMeta.pack_hdus(hdus),  # type: ignore[arg-type]
            extra_names=[h.extname or f"HDU {h.index}" for h in pt.extra_hdus],
            selected=selection is not None,
            decoded={"zero_based": req.zero_based, "slice_numbering": req.slice_numbering} if decoded else {},
        )


def prepare_export(
    pt: PixTable,
    criteria: Criteria,
    req: ExportRequest,
    allow_empty: bool = False,
    progress: Progress = SILENT,
    plan: PlanOptions | None = None,
) -> Export:
    """Check the request and select the rows (an empty selection raises before any output
    exists, unless ``allow_empty``); then :meth:`Export.write` into the caller's file."""
    if req.fmt not in FORMATS:
        raise ValueError(f"unknown format {req.fmt!r}")
    if req.fmt in ("parquet", "arrow"):
        require_pyarrow()
    names = output_names(pt, req)
    scan = Scan(pt, criteria, plan, progress)
    selection = None
    if not criteria.empty or scan.options.build_index:
        selection = scan.select()
        check_selection(pt, selection, allow_empty, criteria)
        if criteria.empty:
            selection = None  # read for the index only: every row, as without it
    return Export(pt, criteria, req, names, selection, scan)


def _write_text(f: Any, fields: list[str], batches: Iterator[dict[str, np.ndarray]], sep: str) -> None:
    f.write(header_line(fields, sep))
    for cols in batches:
        for block in iter_text([cols[n] for n in fields], sep):
            f.write(block)


def _selection_header(scan: Scan, selection: Selection) -> Any:
    """The primary header extract would write for ``selection`` (LIMITS from the selected rows)."""
    pt, progress = scan.pt, scan.progress
    header = output_header(pt, selection, selection.shifted)
    limits = LimitsAccumulator()
    ifus = np.zeros(org.IFU_MASK + 1, dtype=np.int64)
    progress.start("limits", scan.rows_to_read(selection))
    for _, a in scan.copy(selection, ["xpos", "ypos", "lambda", "origin"]):
        limits.add(a["xpos"], a["ypos"], a["lambda"], a["origin"])
        ifus += np.bincount(org.get_ifu(a["origin"]), minlength=len(ifus))
    if key("MERGED") in header:
        header[key("MERGED")] = int(np.count_nonzero(ifus))
    finish_limits(header, limits if selection.count() else None, pt.wcs, pt.centre if pt.wcs == "positioned" else None)
    return header


def _write_arrow(
    f: Any,
    req: ExportRequest,
    fields: list[str],
    dtypes: list[np.dtype],
    units: dict[str, str | None],
    batches: Iterator[dict[str, np.ndarray]],
    meta: ExportMeta,
    digest: RowDigest | None,
) -> None:
    """Parquet (zstd, row groups of ``req.row_group_rows``) or an Arrow IPC file."""
    pa = require_pyarrow()
    schema = pa.schema(
        [pa.field(n, pa.from_numpy_dtype(dt), nullable=False, metadata={b"unit": units[n].encode()} if units[n] else None)
         for n, dt in zip(fields, dtypes)],  # fmt: skip
        metadata=meta.encode(),
    )

    def table(parts: list[dict[str, np.ndarray]]) -> Any:
        return pa.Table.from_batches(
            [pa.record_batch([pa.array(p[n]) for n in fields], schema=schema) for p in parts], schema=schema
        )

    if req.fmt == "parquet":
        import pyarrow.parquet as pq

        # Floats split by byte stream compress better (and faster); only dq repeats enough for a dictionary.
        writer = pq.ParquetWriter(
            f, schema, compression="zstd", use_dictionary=[n for n in fields if n == "dq"],
            use_byte_stream_split=[n for n, dt in zip(fields, dtypes) if dt.kind == "f"], write_statistics=True,
        )  # fmt: skip
        write = lambda parts: writer.write_table(table(parts), row_group_size=req.row_group_rows)  # noqa: E731
    else:
        writer = pa.ipc.new_file(f, schema)
        write = lambda parts: writer.write_table(table(parts), max_chunksize=req.row_group_rows)  # noqa: E731
    sink = _Rows(write, fields, req.row_group_rows)
    try:
        for cols in batches:
            sink.add(cols)
        sink.close()
        if digest is not None:
            record = {ROWS_KEY: digest.record(meta.encode()[METADATA_KEY])}
            if req.fmt == "parquet":
                writer.add_key_value_metadata(record)
            else:  # an empty last batch carries it
                writer.write_batch(pa.record_batch([pa.array([], type=fl.type) for fl in schema], schema=schema),
                                   custom_metadata=record)
    except BaseException:
        # Close the writer while its file is still open (else its finaliser writes to a closed
        # file and pyarrow prints "Exception ignored"); the temporary file is removed anyway.
        for close in (sink.close, writer.close):
            try:
                close()
            except Exception:
                pass
        raise
    writer.close()


def column_names(names: Sequence[str]) -> tuple[str, ...]:
    """A list of column names as typed: lower-cased, blanks dropped."""
    return tuple(n.strip().lower() for n in names if n.strip())
