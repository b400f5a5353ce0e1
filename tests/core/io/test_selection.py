"""pixtab.core.io's row selection: chunk selections, the row source, the selector's test
order and the criteria, against the independent reference of tests/helpers/extract.py."""

from __future__ import annotations

import numpy as np
import pytest

from pixtab.core.errors import CriteriaError
from pixtab.core.io.criteria import Aperture, Criteria, ccd_slices
from pixtab.core.io.scan import ChunkSelection
from pixtab.core.io.selection import RowSource, Selector
from pixtab.core.io.table import PixTable

from helpers.extract import DEC0, RA0, Ref, bits, reference


@pytest.fixture(scope="module")
def combined(simulated) -> Ref:
    """Two dithered exposures of IFUs 12 and 13 (the field centre), positioned, with weights."""
    return reference(simulated(rows=120_000, ifus=[12, 13], exposures=2, wcs="positioned"))


def test_chunk_selection_representations() -> None:
    n = 10_000
    for idx, kind in [
        (np.array([], dtype=np.int64), "none"),
        (np.arange(n), "all"),
        (np.array([3, 77, 9_999]), "idx"),
        (np.arange(0, n, 3), "bits"),
    ]:
        cs = ChunkSelection.of(500, 500 + n, idx)
        assert cs.kind == kind and cs.count == idx.size
        assert np.array_equal(cs.indices(), idx)
        if kind == "bits":
            assert cs.data.nbytes == n // 8
        if kind == "idx":
            assert cs.data.dtype == np.uint32


def test_row_source_reads_only_needed_blocks(combined: Ref) -> None:
    with PixTable(combined.path) as pt:
        src = RowSource(pt, 10_000, 60_000)
        idx = np.array([0, 5, 4095, 4096, 30_000, 49_999])
        assert np.array_equal(bits(src.get("ypos", idx)), bits(combined.cols["ypos"][10_000 + idx]))
        buf, loaded = src._partial["ypos"]
        assert loaded.nonzero()[0].tolist() == [0, 1, 7, 12]
        assert np.array_equal(bits(src.get("ypos", None)), bits(combined.cols["ypos"][10_000:60_000]))
        assert "ypos" in src.full and "ypos" not in src._partial


def test_ccd_slices_and_criteria_validation() -> None:
    assert ccd_slices([1, 12, 48], "sky") == [3, 10, 46]
    assert ccd_slices([5, 5, 2], "ccd") == [2, 5]
    with pytest.raises(CriteriaError, match="empty or inverted"):
        Criteria(lambdas=[(5.0, 5.0)])
    with pytest.raises(CriteriaError, match="method"):
        Criteria(method="xor")
    assert Criteria().empty and not Criteria(exps=[0]).empty
    assert Criteria(lambdas=[(1, 2), (5, 9)]).lambda_span() == (1, 9)
    assert Criteria(lambdas=[(1, 2)], ifus=[3], method="or").lambda_span() is None


def test_selector_orders_tests_cheapest_first(combined: Ref) -> None:
    crit = Criteria(apertures=[Aperture("circle", RA0, DEC0, 2.0)], lambdas=[(6000, 6100)], ifus=[12], xpix=[(1, 9)])
    with PixTable(combined.path) as pt:
        sel = Selector(pt, crit)
        assert [t.name for t in sel.tests] == ["ifu", "lambda", "xpix", "sky aperture"]
        assert sel.first_columns == ("origin",)
