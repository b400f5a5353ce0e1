"""Stream a pixel table to disk in the image or BINTABLE layout.

The row count is known before writing (extract counts in a selection pass), so
the whole file is laid out up front in an :class:`~pixtab.core.fits.hdu.HDUFile`
and every chunk goes to its final place with positional writes (each column of
the image layout at its own offset, or interleaved rows for the table layout:
:mod:`pixtab.core.io.layouts`). The primary header is written again last
(:meth:`PixtableWriter.finish`) so that keywords that depend on the data, such
as LIMITS, can be filled in after the data pass; its size in blocks is
reserved by the initial header.

:class:`RowBatcher` gathers small pieces of rows into big writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from astropy.io import fits

from ..fits.hdu import ColumnSpec, HDUCopy, HDUFile, copy_range
from .layouts import Layout, Placement, RowBuffer, placement

__all__ = ["ColumnSpec", "PixtableWriter", "RowBatcher", "primary_header_for"]


class PixtableWriter:
    """Write ``nrows`` rows of ``columns`` to the open file ``fd``.

    Call :meth:`write` with chunks (dicts of arrays, in row order) or
    :meth:`write_raw` with row buffers of :meth:`buffer` until all rows are
    written (or :meth:`copy_raw` once), then :meth:`finish` with the final
    primary header. ``extra_hdus`` are complete HDUs appended after the
    columns (padded bytes, or :class:`HDUCopy` of an input's HDU), e.g.
    ``PIXTABLE_FLAT_FIELD``. ``primary`` may be the header's exact bytes.
    """

    def __init__(
        self,
        fd: int,
        primary: fits.Header | bytes,
        columns: Sequence[ColumnSpec],
        nrows: int,
        layout: str = "image",
        extra_hdus: Sequence[bytes | HDUCopy] = (),
    ) -> None:
        self.file = HDUFile(fd, primary)
        self.columns = list(columns)
        self.nrows = int(nrows)
        self.placement: Placement = placement(layout, self.file, self.columns, self.nrows)
        self.layout = self.placement.name
        self.written = 0
        for hdu in extra_hdus:
            self.file.append(hdu)
        self.file.seal()

    @property
    def fd(self) -> int:
        return self.file.fd

    @property
    def size(self) -> int:
        return self.file.size

    def _advance(self, n: int) -> int:
        row = self.written
        if row + n > self.nrows:
            raise ValueError(f"writing {row + n} rows into a table of {self.nrows}")
        self.written += n
        return row

    def write(self, arrays: dict[str, np.ndarray]) -> None:
        """Append one chunk of rows (every column, equal lengths, in row order)."""
        n = len(arrays[self.columns[0].name])
        if n:
            self.placement.write(arrays, self._advance(n), n)

    def buffer(self, rows: int) -> RowBuffer:
        """A raw row buffer of this output's layout."""
        return self.placement.buffer(rows)

    def write_raw(self, buf: RowBuffer, n: int) -> None:
        """Append the first ``n`` rows of a raw buffer (big-endian, as stored)."""
        if n:
            self.placement.write_raw(buf, self._advance(n), n)

    def copy_raw(self, source: Layout, fd: int) -> None:
        """All rows of ``source`` (open as ``fd``), stored in this same layout: a byte copy."""
        if source.packed != self.placement.packed or source.nrows != self.nrows:
            raise ValueError(f"a {source.name} table of {source.nrows} rows is not this output's layout")
        for (src, nbytes), dst in zip(source.raw_extents(), self.placement.raw_extents()):
            copy_range(fd, self.fd, nbytes, src, dst, source.path)
        self._advance(self.nrows - self.written)

    def finish(self, primary: fits.Header | bytes) -> None:
        """Write the final primary header (same number of blocks as the initial one)."""
        if self.written != self.nrows:
            raise ValueError(f"wrote {self.written} of {self.nrows} rows")
        self.file.rewrite_primary(primary)


class RowBatcher:
    """Gathers pieces of rows and hands them on in batches of at least ``rows`` rows.

    ``sink(arrays)`` receives each batch (every column of ``names``, concatenated).
    Call :meth:`flush` at the end.
    """

    def __init__(self, names: Sequence[str], rows: int, sink: Callable[[dict[str, np.ndarray]], None]) -> None:
        self.names, self.rows, self.sink = list(names), rows, sink
        self.pending: list[dict[str, np.ndarray]] = []
        self.pending_rows = 0

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(arrays[self.names[0]])
        if n:
            self.pending.append(arrays)
            self.pending_rows += n
        if self.pending_rows >= self.rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        if len(self.pending) == 1:
            batch = self.pending[0]
        else:
            batch = {n: np.concatenate([p[n] for p in self.pending]) for n in self.names}
        self.pending, self.pending_rows = [], 0
        self.sink(batch)


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
