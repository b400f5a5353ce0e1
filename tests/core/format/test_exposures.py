"""pixtab.core.format.exposures: the one exposure map (DRS muse_pixtable_get_expnum and friends)."""

from __future__ import annotations

import numpy as np

from pixtab.core.format.exposures import ExposureMap, number_ranges
from pixtab.core.format.keywords import Exposure
from pixtab.core.io.table import PixTable

E = ExposureMap([Exposure(1, 0, 2), Exposure(2, 3, 2), Exposure(3, 3, 5)], 6)  # exposure 2 is empty
SINGLE = ExposureMap([], 4)


def test_rows_runs_ranges() -> None:
    assert E.of_rows(0, 6).tolist() == [1, 1, 1, 3, 3, 3]
    assert E.runs(1, 5) == [(1, 3, 1), (3, 5, 3)]
    assert E.rows_of(3) == (3, 6) and E.rows_of(2) == (3, 3) and E.rows_of(None) == (0, 6)
    assert SINGLE.rows_of(0) == (0, 4) and SINGLE.numbers == [0] and E.numbers == [1, 2, 3]
    assert E.touches([3], 0, 3) is False and E.touches([3], 2, 4) is True
    assert SINGLE.touches([0], 0, 4) and not SINGLE.touches([1], 0, 4)


def test_counts_and_shift_the_drs_way() -> None:
    counts = {1: 0, 2: 0, 3: 0}
    E.count(0, np.array([0, 4, 5]), counts)
    assert counts == {1: 1, 2: 0, 3: 2}
    assert E.shifted(counts) == [(1, 0, 0), (2, 1, 0), (3, 1, 2)]


def test_messages_name_the_exposures() -> None:
    assert E.check([1, 3]) is None and SINGLE.check([0]) is None
    assert E.check([4]) == "exposure 4 is not in this table (exposures 1-3)"
    assert E.check([0, 5, 4]) == "exposures 0, 4-5 are not in this table (exposures 1-3)"
    assert SINGLE.check([1]).startswith("exposure 1 is not in this table: a single-exposure table has only exposure 0")
    assert number_ranges([1, 2, 3, 5, 7, 8], ",") == "1-3,5,7-8"


def test_shifted_exposures_drs_rule(simulated) -> None:
    """On a simulated table of two exposures: FIRST/LAST shifted the DRS way, numbers kept."""
    with PixTable(simulated(rows=120_000, ifus=[12, 13], exposures=2, wcs="positioned")) as pt:
        n1, n2 = (e.nrows for e in pt.keywords.exposures)
        emap = ExposureMap(pt.keywords.exposures, pt.nrows)
        assert emap.shifted({1: 10, 2: 0}) == [(1, 0, 9), (2, 10, 9)]
        assert emap.shifted({2: 5}) == [(1, 0, -1), (2, 0, 4)]
        assert emap.shifted({1: n1, 2: n2}) == [(1, 0, n1 - 1), (2, n1, n1 + n2 - 1)]
