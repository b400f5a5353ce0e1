"""pixtab.core.ops.extract: select_rows against the independent reference (hypothesis over every
criterion), and write_selection with chunk, block and write boundaries anywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixtab.core.io.criteria import Aperture, Criteria
from pixtab.core.io.table import PixTable
from pixtab.core.ops import extract as ex

from helpers.extract import DEC0, RA0, Ref, assert_rows, reference


@pytest.fixture(scope="module")
def combined(simulated) -> Ref:
    """Two dithered exposures of IFUs 12 and 13 (the field centre), positioned, with weights."""
    return reference(simulated(rows=120_000, ifus=[12, 13], exposures=2, wcs="positioned"))


def test_small_chunks_and_blocks_give_the_same_output(combined: Ref, tmp_path: Path, monkeypatch) -> None:
    """Chunk, copy-block, read and write boundaries anywhere: the same rows in the same order."""
    from pixtab.core.io.scan import selection as scan_selection, tuning

    monkeypatch.setattr(scan_selection, "COPY_BLOCK_SHIFT", 7)
    monkeypatch.setattr(tuning, "TUNING", {p: tuning.Tuning(chunk_rows=3_001, copy_rows=1000) for p in (True, False)})
    monkeypatch.setattr(ex, "WRITE_ROWS", 777)
    crit = Criteria(lambdas=[(6000.0, 8000.0)], slices=list(range(1, 30)), method="or", apertures=[Aperture("circle", RA0, DEC0, 3.0)])
    mask = ((combined.lam >= 6000) & (combined.lam < 8000)) | (combined.slc < 30) | combined.aperture("circle", RA0, DEC0, 3.0)
    with PixTable(combined.path) as pt:
        sel = ex.select_rows(pt, crit)
        assert {c.kind for c in sel.chunks} >= {"bits"}
        assert sel.count() == mask.sum()
        out = tmp_path / "o.fits"
        with open(out, "wb") as f:
            ex.write_selection(pt, sel, crit, f.fileno(), "table")
    assert_rows(out, combined, mask)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lam=st.lists(st.tuples(st.integers(4600, 9400), st.integers(1, 3000)), max_size=2),
    ifus=st.none() | st.sets(st.sampled_from([12, 13]), min_size=1),
    slices=st.none() | st.sets(st.integers(1, 48), min_size=1, max_size=10),
    ypix=st.lists(st.tuples(st.integers(1, 4112), st.integers(1, 2000)), max_size=2),
    exps=st.none() | st.sets(st.sampled_from([1, 2]), min_size=1),
    radius=st.none() | st.floats(0.5, 8.0),
    method=st.sampled_from(["and", "or"]),
)
def test_select_rows_matches_reference(combined: Ref, lam, ifus, slices, ypix, exps, radius, method) -> None:
    crit = Criteria(
        lambdas=[(float(a), float(a + w)) for a, w in lam],
        ifus=sorted(ifus) if ifus else None,
        slices=sorted(slices) if slices else None,
        ypix=[(a, a + w) for a, w in ypix],
        exps=sorted(exps) if exps else None,
        apertures=[Aperture("circle", RA0, DEC0, radius)] if radius else [],
        method=method,
    )
    r = combined
    parts = []
    if lam:
        parts.append(np.logical_or.reduce([(r.lam >= a) & (r.lam < a + w) for a, w in lam]))
    if ifus:
        parts.append(np.isin(r.ifu, list(ifus)))
    if slices:
        parts.append(np.isin(r.slc, list(slices)))
    if ypix:
        parts.append(np.logical_or.reduce([(r.y1 >= a) & (r.y1 < a + w) for a, w in ypix]))
    if exps:
        parts.append(np.isin(r.exp, list(exps)))
    if radius:
        parts.append(r.aperture("circle", RA0, DEC0, radius))
    if not parts:  # no criterion: the whole table, whichever way criteria would combine
        want = np.ones(len(r.lam), bool)
    else:
        want = (np.logical_and if method == "and" else np.logical_or).reduce(parts)
    with PixTable(r.path) as pt:
        sel = ex.select_rows(pt, crit, chunk_rows=16_384)
        got = np.concatenate([c.start + c.indices() for c in sel.chunks])
        assert sel.per_exposure == {k: int((want & (r.exp == k)).sum()) for k in (1, 2)}
    assert np.array_equal(got, np.flatnonzero(want))
