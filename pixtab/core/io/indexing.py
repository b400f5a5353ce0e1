"""Build a table index on the way, from the rows a full selection pass reads anyway."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from . import index_store
from .index import BLOCK_ROWS, INDEX_COLUMNS, IndexBuilder
from .plan import PlanOptions
from .table import PixTable

log = logging.getLogger(__name__)


@dataclass
class IndexingPass:
    """Feeds every chunk of a full pass to an :class:`IndexBuilder`, then stores the index."""

    pt: PixTable
    builder: IndexBuilder
    before: dict[str, object]
    sidecar: bool = False
    broken: bool = False

    columns = INDEX_COLUMNS

    @classmethod
    def start(cls, pt: PixTable, options: PlanOptions | None, sidecar: bool = False) -> "IndexingPass | None":
        """A pass when ``options`` ask to build an index, else None."""
        if options is None or not options.build_index:
            return None
        try:
            before = index_store.identity(pt)
        except OSError as exc:
            log.warning("%s: cannot index: %s", pt.path, exc.strerror or exc)
            return None
        return cls(pt, IndexBuilder(pt.nrows, BLOCK_ROWS), before, sidecar)

    def add(self, start: int, arrays: dict[str, np.ndarray]) -> None:
        if start % self.builder.block:
            self.broken = True  # chunks not aligned on index blocks: give up, the selection is unaffected
            return
        self.builder.add(start, arrays)

    def finish(self) -> None:
        if self.broken:
            log.warning("%s: the rows were not read in index blocks; no index built", self.pt.path)
            return
        try:
            index = self.builder.finish()
        except ValueError as exc:
            log.warning("%s: no index built: %s", self.pt.path, exc)
            return
        path = index_store.store(index, self.pt, self.before, self.sidecar)
        if path is not None:
            log.info("%s: indexed (%d blocks) into %s", self.pt.path, index.nblocks, path)
