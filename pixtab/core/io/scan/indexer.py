"""Building a table's index as a pass of the scan engine (``pixtab index``).

Every chunk's xpos, ypos, lambda and origin go to an :class:`~..index.IndexBuilder` on the
engine's workers. Image layout: each column is read straight into a buffer set reused by
slot (:meth:`Scan.each`): fresh chunk-sized arrays cost a page fault per 4 KiB, about as
much as the reduction itself; the big-endian values are swapped in place. Other layouts:
the table's own reads.
"""

from __future__ import annotations

import numpy as np

from ...fits.hdu import pread_into
from ...progress import SILENT, Progress
from ..index import BLOCK_ROWS, BUILD_CHUNK_ROWS, INDEX_COLUMNS, IndexBuilder, TableIndex
from ..rowsource import Scratch
from ..table import PixTable
from .engine import Scan
from .tuning import RING


def build_index(
    pt: PixTable,
    block: int = BLOCK_ROWS,
    progress: Progress = SILENT,
    chunk_blocks: int | None = None,
) -> TableIndex:
    """Read xpos, ypos, lambda and origin once, in chunks of whole blocks (bounded memory),
    and index them (phase ``index``)."""
    builder = IndexBuilder(pt.nrows, block)
    chunk_rows = block * (chunk_blocks or max(1, BUILD_CHUNK_ROWS // block))
    spans = [(a, min(a + chunk_rows, pt.nrows)) for a in range(0, pt.nrows, chunk_rows)]
    image = pt.layout == "image" and all(pt.columns[n].dtype.itemsize == 4 for n in INDEX_COLUMNS)
    ring = [{n: np.empty(min(chunk_rows, pt.nrows), pt.columns[n].dtype.newbyteorder(">")) for n in INDEX_COLUMNS}
            for _ in range(RING if image and spans else 0)]

    def add(k: int, span: tuple[int, int], scratch: Scratch) -> None:
        a, b = span
        if not image:
            builder.add(a, pt.read(INDEX_COLUMNS, a, b))
            return
        arrays = {}
        for name, buf in ring[k % RING].items():
            raw = buf[: b - a]
            pread_into(pt.fd, raw, pt.columns[name].offset + a * 4, pt.path)
            arrays[name] = raw.byteswap(inplace=True).view(pt.columns[name].dtype)
        builder.add(a, arrays)

    progress.start("index", pt.nrows)
    for (a, b), _ in Scan(pt).each(spans, add):
        progress.advance(b - a)
    return builder.finish()
