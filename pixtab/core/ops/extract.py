"""Extract rows of a pixel table into a new one, in two streaming passes.

Both passes are the scan engine's (:mod:`pixtab.core.io.scan`):

1. **Selection** (:meth:`Scan.select`): only the columns the criteria need are
   read, in the ranges the planner allows; a compact :class:`Selection`.
2. **Copy** (:meth:`Scan.copy`): only the blocks that hold selected rows are
   read, every column, and the selected rows are streamed to a
   :class:`PixtableWriter` (in batches: :class:`RowBatcher`).

Output columns follow :func:`pixtab.core.format.columns.output_columns`, the
rule convert uses (an ASCII input is narrowed to float32/int32 the same way).
The caller opens the output (``fd``) once the selection is known, so that an
empty selection leaves no file: :func:`select_rows`, then
:func:`write_selection`.

The header follows the DRS rule for removed rows (format doc section 5.1):
LIMITS recomputed, EXPn FIRST/LAST shifted with the exposure numbers kept
(an emptied exposure ends with LAST = FIRST - 1), COMBINED and the XOFFSET
keywords unchanged, MERGED = number of IFUs left when the input has it. The
PIXTABLE_FLAT_FIELD extension is carried, trimmed to the wavelength cut
+- 2.5 Angstrom as the DRS does; other extensions are copied with a warning.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np

from ..errors import EmptySelectionError
from ..fits.hdu import ColumnSpec, HDUCopy
from ..fits.header import Header
from ..format import origin as org
from ..format.columns import FLAT_FIELD_EXTNAME, narrow, output_columns
from ..format.keywords import key
from ..format.limits import LimitsAccumulator, finish_limits, reserve_limits
from ..io.plan import PlanOptions
from ..io.scan import Scan, Selection
from ..io.criteria import Criteria
from ..io.table import PixTable
from ..io.writer import PixtableWriter, RowBatcher, primary_header_for
from .flatfield import trimmed_flat_field
from ..progress import SILENT, Progress
from .explain import empty_selection

log = logging.getLogger(__name__)

WRITE_ROWS = 1 << 20  # selected rows gathered before one write


def select_rows(
    pt: PixTable,
    criteria: Criteria,
    progress: Progress = SILENT,
    plan: PlanOptions | None = None,
    chunk_rows: int | None = None,
) -> Selection:
    """The selection pass (phase ``select``): which rows of ``pt`` meet ``criteria``
    (:meth:`pixtab.core.io.scan.Scan.select`)."""
    return Scan(pt, criteria, plan, progress, chunk_rows).select()


# -- the output header -----------------------------------------------------------


def output_header(pt: PixTable, selection: Selection, shifted: list[tuple[int, int, int]]) -> Header:
    """The input's primary header with the DRS updates known after the selection pass.

    EXPn FIRST/LAST are final (``shifted``: :meth:`ExposureMap.shifted`);
    LIMITS hold placeholders (absent for 0 rows) so that the copy pass
    changes values only, never the header size.
    """
    hdr = _reserved_header(pt.primary_header, selection.count() > 0).copy()
    for exp, first, last in shifted:
        hdr[key(f"EXP{exp} FIRST")] = first
        hdr[key(f"EXP{exp} LAST")] = last
    return hdr


@functools.lru_cache(maxsize=8)
def _reserved_header(primary: Header, has_rows: bool) -> Header:
    """The input's primary header fit for an output, LIMITS reserved: made once per input
    (a catalogue writes a hundred outputs of one table), copied for each output."""
    hdr = primary_header_for(primary)
    reserve_limits(hdr, has_rows)
    hdr.tostring()  # serialised once: the copies reuse the card images
    return hdr


# -- extra HDUs ------------------------------------------------------------------


def extra_hdus(pt: PixTable, criteria: Criteria, as_bytes: bool = False) -> list[bytes | HDUCopy]:
    """Every non-column HDU of the input, for the output (the flat field trimmed); the others
    copied with a warning, or, ``as_bytes``, read whole (an export keeps them in its metadata)."""
    out: list[bytes | HDUCopy] = []
    for h in pt.extra_hdus:
        if (h.extname or "").upper() == FLAT_FIELD_EXTNAME:
            out.append(trimmed_flat_field(pt, h, criteria.lambda_span()))
        elif as_bytes:
            out.append(pt.hdu_bytes(h))
        else:
            name = h.extname or f"HDU {h.index}"
            log.warning("%s: extension %s is not part of the pixel table format; copied unchanged", pt.path, name)
            out.append(HDUCopy(pt.fd, h, pt.path))
    return out


# -- pass 2: copy ----------------------------------------------------------------


class Sink:
    """Selected rows on their way to the writer: narrowed (ASCII inputs), measured
    (LIMITS, IFUs left) and written in big batches."""

    def __init__(self, pt: PixTable, writer: PixtableWriter, specs: list[ColumnSpec], round_float32: bool,
                 batch_rows: int = WRITE_ROWS) -> None:
        self.pt, self.writer, self.round_float32 = pt, writer, round_float32
        self.names = {c: s.name for c, s in zip(pt.columns, specs)}
        self.limits = LimitsAccumulator()
        self.ifus: set[int] = set()
        self.rounded = 0
        self.batcher = RowBatcher(list(self.names.values()), batch_rows, self._write)

    def add(self, rows: int | np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """Selected input rows ``rows`` (the first row, or every row's index), by input column."""
        if self.pt.storage.from_text:
            for name, values in arrays.items():
                arrays[name], n = narrow(self.pt.path, self.pt.columns[name], values, rows, self.round_float32)
                self.rounded += n
        self.batcher.add({self.names[n]: a for n, a in arrays.items()})

    def _write(self, chunk: dict[str, np.ndarray]) -> None:
        self.limits.add(chunk["xpos"], chunk["ypos"], chunk["lambda"], chunk["origin"])
        self.ifus.update(int(i) for i in np.flatnonzero(np.bincount(org.get_ifu(chunk["origin"]))))  # np.unique imports numpy.ma
        self.writer.write(chunk)


def open_output(
    pt: PixTable, selection: Selection, criteria: Criteria, fd: int, layout: str, round_float32: bool,
    batch_rows: int = WRITE_ROWS,
) -> tuple[Header, Sink]:
    """The header and the sink (writer inside, writing ``batch_rows`` rows at a time) of one
    output, before any row is copied."""
    specs = output_columns(pt.columns.values(), pt.storage.from_text, pt.path)
    header = output_header(pt, selection, selection.shifted)
    writer = PixtableWriter(fd, header, specs, selection.count(), layout, extra_hdus(pt, criteria))
    return header, Sink(pt, writer, specs, round_float32, batch_rows)


def finish_output(pt: PixTable, selection: Selection, header: Header, sink: Sink) -> None:
    """Write the last rows, then the header with what the copy measured (MERGED, LIMITS)."""
    sink.batcher.flush()
    if key("MERGED") in header:
        header[key("MERGED")] = len(sink.ifus)
    crval = pt.centre if pt.wcs == "positioned" else None
    finish_limits(header, sink.limits if selection.count() else None, pt.wcs, crval)
    sink.writer.finish(header)


def write_selection(
    pt: PixTable,
    selection: Selection,
    criteria: Criteria,
    fd: int,
    layout: str = "image",
    progress: Progress = SILENT,
    round_float32: bool = False,
) -> Header:
    """Copy the selected rows of ``pt`` into the open, empty file ``fd`` (phase ``copy``).

    Returns the final primary header. ASCII inputs are narrowed by the rule of
    :func:`~pixtab.core.format.columns.narrow` (``round_float32`` as convert's).
    """
    header, sink = open_output(pt, selection, criteria, fd, layout, round_float32)
    scan = Scan(pt, progress=progress)
    progress.start("copy", scan.rows_to_read(selection))
    # as stored (big-endian values go to the output with no byte swap either way), the
    # reads that rows are picked from into reused buffers
    for rows, arrays in scan.copy(selection, list(pt.columns), reuse=True, native=False):
        sink.add(rows.start if isinstance(rows, range) else rows, arrays)
    finish_output(pt, selection, header, sink)
    return header


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
    if selection.exposures.combined:
        exps = [
            {"exp": e, "selected": selection.per_exposure.get(e, 0), "first": f, "last": la}
            for e, f, la in selection.shifted
        ]
    else:
        exps = [{"exp": 0, "selected": selection.count()}]
    return ExtractResult(pt.path, output, pt.nrows, selection.count(), layout, exps)


def check_selection(pt: PixTable, selection: Selection, allow_empty: bool, criteria: Criteria | None = None) -> None:
    """Raise :class:`EmptySelectionError` (field ``allow_empty``) when nothing is selected
    and an empty table was not asked for; with ``criteria``, saying why."""
    if selection.count() == 0 and not allow_empty:
        if criteria is not None:
            raise empty_selection(pt, criteria, tail="nothing written", field="allow_empty")
        raise EmptySelectionError(f"{pt.path}: no row matches the criteria; nothing written", field="allow_empty")


def check_columns(pt: PixTable) -> None:
    """Raise before any work when the output columns cannot be written (pipeline types, text)."""
    output_columns(pt.columns.values(), pt.storage.from_text, pt.path)
