"""pixtab.core.io.layouts and the placements of pixtab.core.io.writer: typed and raw reads,
matching raw writes, in both binary layouts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import pixtab
from pixtab.core.io.table import PixTable as CoreTable  # the core's table (pixtab.open gives the API's)
from pixtab.core.io.layouts import BinTableLayout, ImageLayout, RowBuffer


@pytest.mark.parametrize("src_layout,dst_layout", [("image", "table"), ("table", "image"), ("image", "image")])
def test_raw_rows_from_one_layout_to_another(simulated, tmp_path: Path, src_layout: str, dst_layout: str) -> None:
    from pixtab.core.io.writer import PixtableWriter

    src = simulated(rows=5_000, layout=src_layout, exposures=2)
    out = tmp_path / "o.fits"
    with CoreTable(src) as pt:
        layout = pt.storage
        assert isinstance(layout, ImageLayout if src_layout == "image" else BinTableLayout)
        typed = layout.read(pt.fd, list(pt.columns), 100, 300)
        stored = layout.read(pt.fd, list(pt.columns), 100, 300, native=False)
        assert all(np.array_equal(typed[n], stored[n]) and stored[n].dtype.byteorder == ">" for n in pt.columns)
        from pixtab.core.format.columns import output_columns

        specs = output_columns(pt.columns.values(), False, pt.path)
        fd = os.open(out, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            w = PixtableWriter(fd, pt.primary_header, specs, pt.nrows, dst_layout)
            buf_in = RowBuffer(layout.raw_dtype(), 1000, layout.packed)
            buf_out = w.buffer(1000)
            for a in range(0, pt.nrows, 1000):
                b = min(a + 1000, pt.nrows)
                for d, s in zip(buf_out.views(b - a), layout.read_raw(pt.fd, buf_in, a, b)):
                    d[:] = s
                w.write_raw(buf_out, b - a)
            with pytest.raises(ValueError, match="rows into a table"):
                w.write_raw(buf_out, 1)
            w.finish(pt.primary_header)
        finally:
            os.close(fd)
        want = pt.read(None)
    with CoreTable(out) as got:
        assert got.layout == dst_layout
        back = got.read(None)
    assert all(np.array_equal(back[n].view(np.uint8), want[n].view(np.uint8)) for n in want)


def test_row_batcher_hands_on_big_batches() -> None:
    from pixtab.core.io.writer import RowBatcher

    seen: list[int] = []
    b = RowBatcher(["a"], 10, lambda batch: seen.append(len(batch["a"])))
    for n in (3, 4, 5, 0, 2):
        b.add({"a": np.zeros(n)})
    b.flush()
    b.flush()
    assert seen == [12, 2]
