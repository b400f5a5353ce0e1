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

from ..fits.hdu import ColumnSpec, HDUCopy, HDUFile, bintable_header, column_image_header, copy_range
from ..fits.header import Header
from ..format.keywords import without_duplicates
from .layouts import Layout, RowBuffer

__all__ = ["ColumnSpec", "ImagePlacement", "PixtableWriter", "Placement", "RowBatcher", "TablePlacement", "primary_header_for"]


# -- where the columns go: the write side of the layouts ------------------------


class Placement:
    """Where the columns of an output go in an :class:`HDUFile` (one layout's write side)."""

    name = ""
    packed = True

    def __init__(self, file: HDUFile, specs: Sequence[ColumnSpec], nrows: int) -> None:
        self.file, self.specs, self.nrows = file, list(specs), nrows

    @property
    def raw_dtype(self) -> np.dtype:
        """Big-endian record dtype of one output row."""
        return np.dtype([(s.name, s.dtype.newbyteorder(">")) for s in self.specs])

    def buffer(self, rows: int) -> RowBuffer:
        """A raw row buffer in this layout (for :meth:`write_raw`)."""
        return RowBuffer(self.raw_dtype, rows, self.packed)

    def write(self, arrays: dict[str, np.ndarray], row: int, n: int) -> None:
        raise NotImplementedError

    def write_raw(self, buf: RowBuffer, row: int, n: int) -> None:
        raise NotImplementedError

    def raw_extents(self) -> list[int]:
        """Offsets of the data, in the order of :meth:`Layout.raw_extents`."""
        raise NotImplementedError


class ImagePlacement(Placement):
    name = "image"
    packed = True

    def __init__(self, file: HDUFile, specs: Sequence[ColumnSpec], nrows: int) -> None:
        super().__init__(file, specs, nrows)
        self.offsets = [file.reserve(column_image_header(s, nrows), nrows * s.dtype.itemsize) for s in self.specs]

    def write(self, arrays: dict[str, np.ndarray], row: int, n: int) -> None:
        for spec, offset in zip(self.specs, self.offsets):
            data = np.ascontiguousarray(arrays[spec.name], dtype=spec.dtype.newbyteorder(">"))
            self.file.write_at(data.data, offset + row * spec.dtype.itemsize)

    def write_raw(self, buf: RowBuffer, row: int, n: int) -> None:
        for spec, offset, view in zip(self.specs, self.offsets, buf.views(n)):
            self.file.write_at(view.data, offset + row * spec.dtype.itemsize)

    def raw_extents(self) -> list[int]:
        return list(self.offsets)


class TablePlacement(Placement):
    name = "table"
    packed = False

    def __init__(self, file: HDUFile, specs: Sequence[ColumnSpec], nrows: int) -> None:
        super().__init__(file, specs, nrows)
        self.offset = file.reserve(bintable_header(self.specs, nrows), nrows * self.raw_dtype.itemsize)

    def write(self, arrays: dict[str, np.ndarray], row: int, n: int) -> None:
        rows = np.empty(n, dtype=self.raw_dtype)
        for spec in self.specs:
            rows[spec.name] = arrays[spec.name]
        self.file.write_at(rows.data, self.offset + row * self.raw_dtype.itemsize)

    def write_raw(self, buf: RowBuffer, row: int, n: int) -> None:
        width = self.raw_dtype.itemsize
        self.file.write_at(buf.rows_bytes(n).data, self.offset + row * width)

    def raw_extents(self) -> list[int]:
        return [self.offset]


def placement(layout: str, file: HDUFile, specs: Sequence[ColumnSpec], nrows: int) -> Placement:
    """Reserve the column HDUs of ``layout`` ('image' or 'table') in ``file``."""
    cls = {"image": ImagePlacement, "table": TablePlacement}.get(layout)
    if cls is None:
        raise ValueError(f"unknown layout {layout!r}")
    return cls(file, specs, nrows)


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
        primary: Header | bytes,
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

    def finish(self, primary: Header | bytes) -> None:
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


def primary_header_for(header: Header) -> Header:
    """A copy of ``header`` fit to be a primary header of a data-less HDU (one card per keyword)."""
    out = without_duplicates(header)
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
