"""The one tuning table of the scan engine: chunk sizes, workers and read-ahead.

Every pass over a table (selection, catalogue selection, measuring stream,
copy) takes its numbers from here, keyed by how the rows are stored: packed
columns (image layout: one column is one contiguous run of bytes) or
interleaved rows (table layout, ASCII), whose rows are about 7x wider, so a
chunk of the same bytes holds fewer rows.
"""

from __future__ import annotations

from dataclasses import dataclass

#: threads of a pass (one per core here); positional reads and numpy release the GIL
WORKERS = 2
#: chunks in flight: at most two per worker queued ahead (read-ahead, bounded memory)
WINDOW = 2 * WORKERS
#: buffer slots a pass needs to reuse buffers by chunk number (Scan.each): one per chunk in flight
RING = WINDOW
#: the copy pass reads the 1 Ki-row blocks that hold selected rows (a page of a float32
#: column: a sparse cut, e.g. a catalogue's hundred apertures in one wavelength band,
#: reads its rows' pages, not 16x more)
COPY_BLOCK_SHIFT = 10
#: ... and the gaps between them shorter than this many blocks: one read more costs
#: about what copying 8 Ki rows of every column does
COPY_GAP_BLOCKS = 8


@dataclass(frozen=True)
class Tuning:
    """Rows per chunk of a selecting/measuring pass (small enough for the CPU caches), and
    the most rows of one read of the copy pass (every column read)."""

    chunk_rows: int
    copy_rows: int


#: by ``storage.packed``
TUNING = {
    True: Tuning(chunk_rows=1 << 19, copy_rows=1 << 20),
    False: Tuning(chunk_rows=1 << 18, copy_rows=1 << 20),
}


def tuning_of(packed: bool) -> Tuning:
    return TUNING[bool(packed)]
