"""Index tables: one streaming pass over xpos, ypos, lambda and origin per table.

See :mod:`pixtab.core.io.index` for what an index holds and
:mod:`pixtab.core.io.index_store` for where it is kept and when it is stale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import OutputError
from ..io import index_store
from ..io.scan.indexer import build_index
from ..io.table import PixTable
from ..progress import SILENT, Progress


@dataclass
class IndexResult:
    """What :func:`index_table` did, for the CLI's summary."""

    input: str
    index: str | None  # where the index is
    built: bool  # False: a valid index was already there
    rows: int
    blocks: int
    runs: int | None
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def index_table(
    pt: PixTable,
    sidecar: bool = False,
    rebuild: bool = False,
    progress: Progress = SILENT,
) -> IndexResult:
    """Make sure ``pt`` has a valid index (in the cache, or a sidecar); build it if needed
    (phase ``index``).

    Raises :class:`OutputError` when the index cannot be written where asked.
    """
    t0 = time.perf_counter()
    if not rebuild:
        found = index_store.find(pt)
        where = index_store.sidecar_path(pt.path) if sidecar else index_store.cache_path(index_store.identity(pt))
        if found is not None and where.exists():
            runs = None if found.run_starts is None else int(found.run_starts.size)
            return IndexResult(pt.path, str(where), False, pt.nrows, found.nblocks, runs, time.perf_counter() - t0)
    before = index_store.identity(pt)
    index = build_index(pt, progress=progress)
    path = index_store.store(index, pt, before, sidecar)
    if path is None:
        raise OutputError(f"{pt.path}: the index could not be written (see the warning above)")
    runs = None if index.run_starts is None else int(index.run_starts.size)
    return IndexResult(pt.path, str(path), True, pt.nrows, index.nblocks, runs, time.perf_counter() - t0)
