"""Extract rows of a pixel table into a new one, in two streaming passes.

1. **Selection**: only the columns the criteria need are read, chunk by chunk
   (the first test's columns whole, with read-ahead; the others lazily, only in
   the blocks of rows still in play). Each chunk keeps a compact record of its
   selected rows (all / none / uint32 indices / packed bits, whichever is
   smallest), and the rows kept per exposure are counted.
2. **Copy**: only the 64 Ki-row blocks that hold selected rows are read, every
   column, and the selected rows are streamed to a :class:`PixtableWriter`.

The header follows the DRS rule for removed rows (format doc section 5.1):
LIMITS recomputed, EXPn FIRST/LAST shifted with the exposure numbers kept
(an emptied exposure ends with LAST = FIRST - 1), COMBINED and the XOFFSET
keywords unchanged, MERGED = number of IFUs left when the input has it. The
PIXTABLE_FLAT_FIELD extension is carried, trimmed to the wavelength cut
+- 2.5 Angstrom as the DRS does; other extensions are copied with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from astropy.io import fits

from ..format import origin as org
from ..fits.atomic import atomic_output
from ..errors import EmptySelectionError, InputError
from ..fits.structure import HDUInfo, header_bytes, pad_bytes
from ..format.keywords import LIMIT_KEYS, key
from ..format.limits import LimitsAccumulator, set_limits
from ..io.selection import Criteria, RowSource, Scratch, Selector
from ..io.table import FLAT_FIELD_EXTNAME, OPTIONAL, PIPELINE_DTYPES, REQUIRED, PixTable
from ..io.writer import ColumnSpec, PixtableWriter, primary_header_for

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int], None]
ProgressFactory = Callable[[str, int], AbstractContextManager[Progress | None]]

COPY_BLOCK_SHIFT = 14  # the copy pass reads 16 Ki-row blocks that hold selected rows
COPY_MAX_ROWS = 1 << 20  # at most this many rows per read (all columns)
WRITE_ROWS = 1 << 20  # selected rows gathered before one write
FLAT_FIELD_MARGIN = 2.5  # Angstrom kept around a wavelength cut (DRS)
SELECT_WORKERS = 2  # threads of the selection pass (one per core here)
#: rows per selection chunk: small enough for the CPU caches (interleaved rows are 7x wider)
SELECT_CHUNK_ROWS = {"image": 1 << 19}
SELECT_CHUNK_ROWS_OTHER = 1 << 18


# -- pass 1: selection -----------------------------------------------------------


@dataclass
class ChunkSelection:
    """Selected rows of input rows ``start..stop-1``, stored compactly."""

    start: int
    stop: int
    count: int
    kind: str  # 'all', 'none', 'idx' (uint32 local indices) or 'bits' (packed mask)
    data: np.ndarray | None = None

    @classmethod
    def of(cls, start: int, stop: int, idx: np.ndarray) -> "ChunkSelection":
        n, k = stop - start, int(idx.size)
        if k == 0:
            return cls(start, stop, 0, "none")
        if k == n:
            return cls(start, stop, k, "all")
        if 32 * k < n:  # 4 bytes per selected row beat 1 bit per row
            return cls(start, stop, k, "idx", idx.astype(np.uint32))
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        return cls(start, stop, k, "bits", np.packbits(mask))

    def indices(self) -> np.ndarray:
        """Chunk-local indices of the selected rows (int64, sorted)."""
        n = self.stop - self.start
        if self.kind == "none":
            return np.empty(0, dtype=np.int64)
        if self.kind == "all":
            return np.arange(n, dtype=np.int64)
        if self.kind == "idx":
            return self.data.astype(np.int64)  # type: ignore[union-attr]
        return np.flatnonzero(np.unpackbits(self.data, count=n))  # type: ignore[arg-type]


@dataclass
class Selection:
    """The outcome of the selection pass over one table."""

    nrows: int
    chunks: list[ChunkSelection]
    per_exposure: dict[int, int]  # selected rows per exposure number (0: single exposure)

    @property
    def count(self) -> int:
        return sum(c.count for c in self.chunks)


def _count_per_exposure(pt: PixTable, start: int, idx: np.ndarray, into: dict[int, int]) -> None:
    exposures = pt.keywords.exposures
    if not exposures:
        into[0] = into.get(0, 0) + int(idx.size)
        return
    for e in exposures:
        lo, hi = np.searchsorted(idx, [e.first - start, e.last + 1 - start])
        if hi > lo:
            into[e.exp] = into.get(e.exp, 0) + int(hi - lo)


def select_rows(
    pt: PixTable,
    criteria: Criteria,
    progress: Progress | None = None,
    chunk_rows: int | None = None,
) -> Selection:
    """Run the selection pass: which rows of ``pt`` meet ``criteria``."""
    selector = Selector(pt, criteria)
    chunk_rows = chunk_rows or SELECT_CHUNK_ROWS.get(pt.layout, SELECT_CHUNK_ROWS_OTHER)
    bounds = [(a, min(a + chunk_rows, pt.nrows)) for a in range(0, pt.nrows, chunk_rows)]
    live = [b for b in bounds if selector.chunk_possible(*b)]
    # Interleaved rows cost the same to read for one column or all: take them all at once.
    ahead = list(selector.columns if pt.layout != "image" else selector.first_columns)

    local = threading.local()

    def work(span: tuple[int, int]) -> tuple[np.ndarray, ChunkSelection]:
        start, stop = span
        if not hasattr(local, "scratch"):
            local.scratch = Scratch()
        arrays = pt.read(ahead, start, stop) if ahead else {}
        idx = selector.select(RowSource(pt, start, stop, arrays, local.scratch))
        return idx, ChunkSelection.of(start, stop, idx)

    found: dict[int, ChunkSelection] = {}
    per_exp: dict[int, int] = {e.exp: 0 for e in pt.keywords.exposures} or {0: 0}
    pt.fd  # open the file before the workers share it
    # Each worker reads and selects whole chunks: positional reads and numpy
    # release the GIL, so reading and computing overlap on both cores.
    with ThreadPoolExecutor(max_workers=SELECT_WORKERS, thread_name_prefix="pixtab-select") as pool:
        for idx, cs in _ordered_map(pool, work, live):
            found[cs.start] = cs
            _count_per_exposure(pt, cs.start, idx, per_exp)
            if progress:
                progress(cs.stop - cs.start)
    if progress:
        progress(pt.nrows - sum(b - a for a, b in live))
    chunks = [found.get(a) or ChunkSelection(a, b, 0, "none") for a, b in bounds]
    return Selection(pt.nrows, chunks, per_exp)


def _ordered_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: list[T]) -> Iterator[R]:
    """``pool.map`` with at most two tasks per worker queued (bounded memory), in order."""
    window = 2 * SELECT_WORKERS
    futures: deque[Future[R]] = deque()
    for item in items:
        futures.append(pool.submit(fn, item))
        if len(futures) >= window:
            yield futures.popleft().result()
    while futures:
        yield futures.popleft().result()


# -- the output header -----------------------------------------------------------


def shifted_exposures(pt: PixTable, per_exposure: dict[int, int]) -> list[tuple[int, int, int]]:
    """(exp, FIRST, LAST) after removing rows, the DRS way (``muse_pixtable_fix_exp_headers``).

    Every exposure is shifted by the rows removed before it; its LAST also by
    the rows removed from it, so an emptied exposure ends with LAST = FIRST - 1.
    """
    out = []
    removed_before = 0
    for e in pt.keywords.exposures:
        removed_inside = e.nrows - per_exposure.get(e.exp, 0)
        first = e.first - removed_before
        out.append((e.exp, first, e.last - removed_before - removed_inside))
        removed_before += removed_inside
    return out


def output_header(pt: PixTable, selection: Selection) -> fits.Header:
    """The input's primary header with the DRS updates known after the selection pass.

    EXPn FIRST/LAST are final; LIMITS hold placeholders (absent for 0 rows) so
    that :func:`finalize_header` changes values only, never the header size.
    """
    hdr = primary_header_for(pt.primary_header)
    for exp, first, last in shifted_exposures(pt, selection.per_exposure):
        hdr[key(f"EXP{exp} FIRST")] = first
        hdr[key(f"EXP{exp} LAST")] = last
    if selection.count == 0:
        set_limits(hdr, {k: None for k in LIMIT_KEYS})
    else:
        set_limits(hdr, {k: (0 if k.startswith(("ifu", "slice")) else 0.0) for k in LIMIT_KEYS})
    return hdr


def finalize_header(hdr: fits.Header, limits: dict[str, float | int | None] | None, ifus: int) -> None:
    """Fill in what the copy pass measured: LIMITS, and MERGED (IFUs left) where present."""
    if key("MERGED") in hdr:
        hdr[key("MERGED")] = ifus
    if limits is not None:
        set_limits(hdr, limits)


# -- extra HDUs ------------------------------------------------------------------


def trimmed_flat_field(pt: PixTable, h: HDUInfo, span: tuple[float, float] | None) -> bytes:
    """The PIXTABLE_FLAT_FIELD HDU, rows outside [lo - 2.5, hi + 2.5] Angstrom dropped."""
    blob = pt.hdu_bytes(h)
    if span is None:
        return blob
    hdr = h.header
    if int(hdr.get("PCOUNT", 0)) != 0:
        log.warning("%s: %s has a heap; copied untrimmed", pt.path, FLAT_FIELD_EXTNAME)
        return blob
    hdu = fits.BinTableHDU.fromstring(blob)
    names = {n.lower(): n for n in hdu.columns.names}
    if "lambda" not in names:
        log.warning("%s: %s has no lambda column; copied untrimmed", pt.path, FLAT_FIELD_EXTNAME)
        return blob
    lam = np.asarray(hdu.data[names["lambda"]], dtype=np.float64)
    lo, hi = span[0] - FLAT_FIELD_MARGIN, span[1] + FLAT_FIELD_MARGIN
    keep = (lam >= lo) & (lam <= hi)
    width = int(hdr["NAXIS1"])
    start = h.data_offset - h.header_offset
    rows = np.frombuffer(blob, dtype=np.uint8, count=width * len(lam), offset=start).reshape(-1, width)[keep]
    new = hdr.copy()
    new["NAXIS2"] = int(keep.sum())
    data = rows.tobytes()
    return header_bytes(new) + data + pad_bytes(len(data))


def extra_hdus(pt: PixTable, criteria: Criteria) -> list[bytes]:
    """Every non-column HDU of the input, as padded bytes for the output."""
    out = []
    for h in pt.extra_hdus:
        if (h.extname or "").upper() == FLAT_FIELD_EXTNAME:
            out.append(trimmed_flat_field(pt, h, criteria.lambda_span()))
        else:
            name = h.extname or f"HDU {h.index}"
            log.warning("%s: extension %s is not part of the pixel table format; copied unchanged", pt.path, name)
            out.append(pt.hdu_bytes(h))
    return out


# -- pass 2: copy ----------------------------------------------------------------


def column_specs(pt: PixTable) -> list[ColumnSpec]:
    """Output columns: every input column in input order, units verbatim."""
    specs = []
    for c in pt.columns.values():
        known = c.name in REQUIRED or c.name in OPTIONAL
        dtype = c.dtype
        if pt.layout == "ascii-table":
            if known:
                dtype = np.dtype(PIPELINE_DTYPES[c.name])
            elif dtype.kind == "S":
                raise InputError(pt.path, f"text column '{c.stored_name}' of an ASCII table cannot be carried")
        specs.append(ColumnSpec(c.name if known else c.stored_name, dtype, c.unit))
    return specs


def copy_ranges(selection: Selection) -> list[tuple[int, int, int]]:
    """(start, stop, chunk number) of the row blocks the copy pass must read."""
    out = []
    block = 1 << COPY_BLOCK_SHIFT
    for i, cs in enumerate(selection.chunks):
        if cs.kind == "none":
            continue
        if cs.kind == "all":
            runs = [(cs.start, cs.stop)]
        else:
            blocks = np.unique(cs.indices() >> COPY_BLOCK_SHIFT)
            cut = np.flatnonzero(np.diff(blocks) != 1) + 1
            runs = [
                (cs.start + int(r[0]) * block, min(cs.stop, cs.start + (int(r[-1]) + 1) * block))
                for r in np.split(blocks, cut)
            ]
        for a, b in runs:
            for s in range(a, b, COPY_MAX_ROWS):
                out.append((s, min(s + COPY_MAX_ROWS, b), i))
    return out


@dataclass
class _Sink:
    """Gathers selected rows, writes them in big pieces, tracks LIMITS and IFUs."""

    writer: PixtableWriter
    names: list[str]
    limits: LimitsAccumulator = field(default_factory=LimitsAccumulator)
    ifus: set[int] = field(default_factory=set)
    pending: list[dict[str, np.ndarray]] = field(default_factory=list)
    pending_rows: int = 0

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(arrays[self.names[0]])
        if n:
            self.pending.append(arrays)
            self.pending_rows += n
        if self.pending_rows >= WRITE_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        if len(self.pending) == 1:
            chunk = self.pending[0]
        else:
            chunk = {n: np.concatenate([p[n] for p in self.pending]) for n in self.names}
        self.pending, self.pending_rows = [], 0
        self.limits.add(chunk["xpos"], chunk["ypos"], chunk["lambda"], chunk["origin"])
        self.ifus.update(int(i) for i in np.unique(org.get_ifu(chunk["origin"])))
        self.writer.write(chunk)


def write_selection(
    pt: PixTable,
    selection: Selection,
    criteria: Criteria,
    fd: int,
    layout: str = "image",
    progress: Progress | None = None,
) -> fits.Header:
    """Copy the selected rows of ``pt`` into the open file ``fd``; return the final header."""
    specs = column_specs(pt)
    names = list(pt.columns)
    out_names = {c: s.name for c, s in zip(names, specs)}
    header = output_header(pt, selection)
    writer = PixtableWriter(fd, header, specs, selection.count, layout, extra_hdus(pt, criteria))
    sink = _Sink(writer, [s.name for s in specs])
    ranges = copy_ranges(selection)
    chunk_idx: dict[int, np.ndarray] = {}
    for chunk, (_, _, i) in zip(pt.iter_ranges(names, [(a, b) for a, b, _ in ranges]), ranges):
        cs = selection.chunks[i]
        if cs.kind == "all":
            sink.add({out_names[n]: chunk[n] for n in names})
        else:
            if i not in chunk_idx:
                chunk_idx.clear()
                chunk_idx[i] = cs.indices()
            local = chunk_idx[i]
            lo, hi = np.searchsorted(local, [chunk.start - cs.start, chunk.stop - cs.start])
            rows = local[lo:hi] - (chunk.start - cs.start)
            sink.add({out_names[n]: chunk[n][rows] for n in names})
        if progress:
            progress(len(chunk))
    sink.flush()
    limits = sink.limits.result(pt.wcs, pt.centre if pt.wcs == "positioned" else None) if selection.count else None
    finalize_header(header, limits, len(sink.ifus))
    writer.finish(header)
    return header


def copy_rows_total(selection: Selection) -> int:
    """How many input rows the copy pass reads (for a progress bar)."""
    return sum(b - a for a, b, _ in copy_ranges(selection))


# -- the whole operation -------------------------------------------------------


@dataclass
class ExtractResult:
    """What was done, for the CLI's summary."""

    input: str
    output: str | None
    rows: int
    selected: int
    layout: str | None
    exposures: list[dict[str, int]]

    def as_dict(self) -> dict[str, object]:
        return {
            "input": self.input,
            "output": self.output,
            "rows": self.rows,
            "selected": self.selected,
            "layout": self.layout,
            "exposures": self.exposures,
        }


def summarize(pt: PixTable, selection: Selection, output: str | None, layout: str | None) -> ExtractResult:
    if pt.keywords.exposures:
        exps = [
            {"exp": e, "selected": selection.per_exposure.get(e, 0), "first": f, "last": la}
            for e, f, la in shifted_exposures(pt, selection.per_exposure)
        ]
    else:
        exps = [{"exp": 0, "selected": selection.count}]
    return ExtractResult(pt.path, output, pt.nrows, selection.count, layout, exps)


def extract(
    pt: PixTable,
    criteria: Criteria,
    output: str,
    layout: str = "image",
    overwrite: bool = False,
    allow_empty: bool = False,
    progress: ProgressFactory | None = None,
) -> ExtractResult:
    """Select rows of ``pt`` and write them to ``output`` atomically.

    ``progress(description, total)`` is a context manager yielding an
    ``advance(n)`` callback, entered once per pass. Raises
    :class:`EmptySelectionError` (nothing written) when no row is selected,
    unless ``allow_empty``, and :class:`InputError` before any work when a
    column has a type the pipeline would refuse to load.
    """
    pt.check_pipeline_dtypes()
    bar = progress or _no_progress
    with bar("select", pt.nrows) as advance:
        selection = select_rows(pt, criteria, advance)
    if selection.count == 0 and not allow_empty:
        raise EmptySelectionError(
            f"{pt.path}: no row matches the criteria; nothing written (--allow-empty writes a 0-row table)"
        )
    with bar("copy", copy_rows_total(selection)) as advance, atomic_output(output, overwrite) as fd:
        write_selection(pt, selection, criteria, fd, layout, advance)
    return summarize(pt, selection, output, layout)


@contextmanager
def _no_progress(description: str, total: int) -> Iterator[Progress | None]:
    yield None

