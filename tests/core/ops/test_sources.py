"""core/ops/sources.py: the catalogue's copy pass, with reads and write batches much smaller
than the sources (as on a full exposure with wide apertures): the outputs are still each
source's one-source extract, and the rows waiting to be written stay within the budget
the outputs share, not one batch per output."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pixtab.core.format.catalog import Source
from pixtab.core.io import writer
from pixtab.core.io.criteria import Criteria
from pixtab.core.io.scan import tuning
from pixtab.core.io.table import PixTable
from pixtab.core.ops import sources as sources_mod
from pixtab.core.ops.extract import select_rows, write_selection

RA0, DEC0 = 150.1163, 2.2058
READ_ROWS = 512  # the copy pass's largest read
BUDGET, FLOOR = 1200, 64  # WRITE_ROWS and MIN_BATCH_ROWS, made small
SOURCES = [Source(f"s{k}", RA0 + dx / 3600, DEC0 + dy / 3600, radius=4.0) for k, (dx, dy) in
           enumerate([(0, 0), (1.5, 0.5), (-2, 1), (0.5, -2), (3, 3), (-3, -2.5)])]  # overlapping


@pytest.mark.parametrize("layout", ["image", "table"])
def test_small_reads_and_batches_give_each_source_its_extract(simulated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              layout: str) -> None:
    table = simulated(rows=200_000, layout=layout, wcs="positioned")
    for packed, t in list(tuning.TUNING.items()):
        monkeypatch.setitem(tuning.TUNING, packed, dataclasses.replace(t, copy_rows=READ_ROWS))
    monkeypatch.setattr(sources_mod, "WRITE_ROWS", BUDGET)
    monkeypatch.setattr(sources_mod, "MIN_BATCH_ROWS", FLOOR)
    batchers: list[writer.RowBatcher] = []
    most = [0]
    add = writer.RowBatcher.add

    def counted(self: writer.RowBatcher, arrays: dict) -> None:
        if self not in batchers:
            batchers.append(self)
        add(self, arrays)
        most[0] = max(most[0], sum(b.pending_rows for b in batchers))

    monkeypatch.setattr(writer.RowBatcher, "add", counted)
    base = Criteria(lambdas=[(5000.0, 8000.0)])
    with PixTable(table) as pt:
        selections = sources_mod.select_sources(pt, base, SOURCES)
        counts = [s.count() for s in selections]
        paths = [tmp_path / f"{s.id}.fits" for s in SOURCES]
        fds = [os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644) for p in paths]
        try:
            sources_mod.write_sources(pt, selections, [sources_mod.source_criteria(base, s) for s in SOURCES], fds, layout)
        finally:
            for fd in fds:
                os.close(fd)
        batch = max(FLOOR, BUDGET // len(SOURCES))
        assert min(counts) > 2 * batch and sum(counts) > 2 * len(SOURCES) * (batch + READ_ROWS)  # outgrown batches
        # each output holds under a batch plus one read's rows: never its whole selection
        assert most[0] <= len(SOURCES) * (batch + READ_ROWS) < sum(counts), (most[0], counts)
        for source, path in zip(SOURCES, paths):
            crit = sources_mod.source_criteria(base, source)
            one = tmp_path / f"one_{source.id}.fits"
            fd = os.open(one, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                write_selection(pt, select_rows(pt, crit), crit, fd, layout)
            finally:
                os.close(fd)
            assert path.read_bytes() == one.read_bytes(), source.id
